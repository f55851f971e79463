// Package corpus makes reproducible synthetic mail for benchmarks: text whose distinct trigrams
// grow with its length as natural text's do, and messages in the shapes mailboxes hold. It is
// used by tests and benchmarks only and touches nothing else.
package corpus

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Corpus makes the messages. Their text is in a made-up language of syllable
// words chosen by a Zipf law, which gives a message about as many distinct trigrams as natural
// text of its length (35 KB of it: 3 150, against 3 144 for the GPL's English), and the cost of
// indexing text depends on that. Their shapes are those a mailbox holds: plain text of varied
// lengths, text with an HTML alternative, and short text with a binary attachment.
type Corpus struct {
	words []string
}

// New returns the corpus; every call returns the same one.
func New() *Corpus {
	r := rand.New(rand.NewPCG(1, 2))
	cons := []string{"b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "gl", "gn", "sc", "tr", "pr", "st", "br", "cr", "qu"}
	vow := []string{"a", "e", "i", "o", "u", "a", "e", "i", "o", "à", "è", "ì", "ò", "ù", "ia", "io"}
	fin := []string{"", "", "", "", "n", "l", "r", "s"}
	c := &Corpus{words: make([]string, 20000)}
	for i := range c.words {
		var sb strings.Builder
		for range 1 + r.IntN(4) {
			sb.WriteString(cons[r.IntN(len(cons))] + vow[r.IntN(len(vow))] + fin[r.IntN(len(fin))])
		}
		c.words[i] = sb.String()
	}
	return c
}

// Text is about size bytes of sentences in lines of at most 76 characters.
func (c *Corpus) Text(r *rand.Rand, size int) string {
	z := rand.NewZipf(r, 1.07, 2, uint64(len(c.words)-1))
	var b strings.Builder
	line := 0
	for start := true; b.Len() < size; {
		w := c.words[z.Uint64()]
		if start {
			w = strings.ToUpper(w[:1]) + w[1:]
			start = false
		}
		if line+len(w) > 75 {
			b.WriteString("\r\n")
			line = 0
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += len(w)
		if r.IntN(12) == 0 {
			b.WriteByte('.')
			line++
			start = true
		}
	}
	b.WriteString(".\r\n")
	return b.String()
}

// Message is the corpus's i-th message; the same i always gives the same bytes.
func (c *Corpus) Message(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mittente %d <from%d@old.test>\r\nTo: anna@old.test\r\nSubject: %s\r\nMessage-ID: <c%06d@old.test>\r\nDate: Mon, 4 Mar 2024 10:00:00 +0100\r\nMIME-Version: 1.0\r\n",
		i%37, i%37, strings.TrimSuffix(c.Text(r, 30), ".\r\n"), i)
	sizes := []int{600, 2000, 9000, 40000, 1500, 120000, 300}
	const boundary = "=-=confine=-="
	switch i % 10 {
	case 6, 7:
		text := c.Text(r, sizes[i%len(sizes)]/2)
		fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n<html><body><p style=\"font-family: Arial, sans-serif\">%s</p></body></html>\r\n--%s--\r\n",
			boundary, boundary, text, boundary, strings.ReplaceAll(text, ".\r\n", ".</p>\r\n<p>"), boundary)
	case 8, 9:
		att := make([]byte, 8000+r.IntN(60000))
		for j := range att {
			att[j] = byte(r.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(att)
		var lines strings.Builder
		for len(enc) > 76 {
			lines.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		lines.WriteString(enc + "\r\n")
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--%s\r\nContent-Type: application/pdf; name=\"allegato-%d.pdf\"\r\nContent-Disposition: attachment; filename=\"allegato-%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s--%s--\r\n",
			boundary, boundary, c.Text(r, 1500), boundary, i, i, lines.String(), boundary)
	default:
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s", c.Text(r, sizes[i%len(sizes)]))
	}
	return b.Bytes()
}
