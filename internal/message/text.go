package message

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime/quotedprintable"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// collectText appends the decoded text of a leaf part to the search text; other leaves mark
// the message as having attachments.
func (ps *parser) collectText(p *Part, body []byte) {
	attachment := strings.EqualFold(p.Disposition, "attachment")
	if p.Type != "text" || attachment {
		if attachment || p.Type != "text" {
			ps.att = true
		}
		return
	}
	if ps.text.Len() >= MaxText || ps.quiet > 0 {
		return
	}
	limit := MaxText - ps.text.Len()
	cs := strings.ToLower(p.Param("charset"))
	isUTF8 := cs == "" || cs == "utf-8" || cs == "us-ascii"
	var b []byte
	if isUTF8 && p.Encoding != "BASE64" && p.Encoding != "QUOTED-PRINTABLE" {
		b = body[:min(len(body), limit)] // already the text: nothing to decode
	} else {
		var r io.Reader = bytes.NewReader(body)
		switch p.Encoding {
		case "BASE64":
			r = base64.NewDecoder(base64.StdEncoding, &base64Cleaner{r: r})
		case "QUOTED-PRINTABLE":
			r = quotedprintable.NewReader(r)
		}
		if !isUTF8 {
			if cr, err := charset.Reader(cs, r); err == nil {
				r = cr
			}
		}
		b, _ = io.ReadAll(io.LimitReader(r, int64(limit)))
	}
	if ps.text.Len() > 0 {
		ps.text.WriteByte('\n')
	}
	if p.Subtype != "html" && utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		ps.text.Grow(len(b)) // the text as it is, copied once
		ps.text.Write(b)
		return
	}
	s := strings.ReplaceAll(strings.ToValidUTF8(string(b), ""), "\x00", "")
	if p.Subtype == "html" {
		s = stripHTML(s)
	}
	ps.text.WriteString(s)
}

// base64Cleaner drops the line breaks and spaces that base64 bodies carry.
type base64Cleaner struct{ r io.Reader }

func (c *base64Cleaner) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	j := 0
	for _, b := range p[:n] {
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			p[j] = b
			j++
		}
	}
	return j, err
}

var (
	htmlDropRe = regexp.MustCompile(`(?is)<(script|style|head)[^>]*>.*?</(script|style|head)>`)
	htmlTagRe  = regexp.MustCompile(`(?s)<[^>]*>`)
)

func stripHTML(s string) string {
	s = htmlDropRe.ReplaceAllString(s, " ")
	s = htmlTagRe.ReplaceAllString(s, " ")
	return html.UnescapeString(s)
}
