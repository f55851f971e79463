package main

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// message is one generated message and what the benchmark appends with it.
type message struct {
	raw   []byte
	from  string // the From field's value
	flags string // for APPEND: "" or a flag list such as "(\Flagged)"
	date  time.Time
}

// corpus is a generated mailbox and the answers the server must give about it.
type corpus struct {
	msgs     []message
	fromKey  string // a sender's address, for SEARCH FROM
	fromHits []int  // indexes of the messages whose From contains fromKey
	textKey  string // a word in about 1 % of the bodies, for SEARCH TEXT and SEARCH BODY
	textHits []int  // indexes of the messages that contain textKey (in their bodies)
	bytes    int64
}

// textKey occurs in about one message in a hundred, in the body only, and never inside
// another word.
const textKey = "zentravix"

// generate builds n messages of 4 to 12 KB from a fixed seed, so that every server receives
// the same mailbox: plain text, multipart/alternative and multipart/mixed with an attachment,
// from a few hundred senders of which a few send most of the mail.
func generate(n int, seed uint64) *corpus {
	// Rare words occur in a few messages each, as in real mail; they are not searched for.
	rareWords := strings.Fields("quillaborn morphelidy vandoquist kryzanthe pelloquint trivaxel")
	firstNames := strings.Fields("Alice Bruno Chiara Daniel Elena Fabio Giulia Hugo Irene Jonas Karin Luca Marta Nils Olga Paolo Rita Stefan Tanja Ugo Vera Walter Xenia Yusuf Zoe Anna Marco Sofia Pietro Laura Tomas Ines Lorenzo Greta Matteo Sara Emil Nora Davide Lea")
	lastNames := strings.Fields("Rossi Bianchi Keller Novak Fischer Moreau Garcia Jensen Kowalski Silva Brandt Conti Dubois Ferrari Haas Ivanova Lund Marino Nagy Ortiz Peeters Quast Ricci Schmid Tanaka Urban Vogel Weber Young Zanetti Colombo Horvat Lindqvist Martins Bauer Greco Sandoval Okafor Petrov Ward")
	domains := strings.Fields("example.org example.com example.net mail.example.org corp.example.com lists.example.net shop.example.com news.example.org university.example.edu bank.example.com travel.example.net cloud.example.io")
	vocabulary := strings.Fields(`the of and to in is that for it as with was on be by this are from at or have an
		not which but all were when we there can more if will one about would their what so up out
		them some could into other than then now only its also after use two how our work first well
		even new want because any these give day most us meeting project report invoice budget team
		review schedule deadline proposal contract client order delivery payment account update please
		thanks regards attached document version draft final quarter results sales numbers forecast
		customer support ticket issue release server database backup migration network office travel
		flight hotel conference agenda minutes notes summary feedback question answer request approval
		monday tuesday wednesday thursday friday morning afternoon week month year today tomorrow soon
		price quote discount shipping warehouse stock supplier product feature design prototype test
		plan risk cost estimate hours resources training onboarding policy security password access
		città perché già così lunedì über straße garçon naïve résumé café`)
	subjectWords := strings.Fields("meeting project report invoice budget review schedule deadline proposal contract order delivery payment update draft results forecast release migration conference agenda feedback approval quote shipping design prototype training policy access")
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type sender struct{ name, addr string }
	var senders []sender
	seen := map[string]bool{}
	for i := 0; len(senders) < 300 && i < 100_000; i++ {
		f, l := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		addr := strings.ToLower(f+"."+l) + "@" + domains[r.IntN(len(domains))]
		if !seen[addr] {
			seen[addr] = true
			senders = append(senders, sender{f + " " + l, addr})
		}
	}
	zipf := rand.NewZipf(r, 1.1, 2, uint64(len(senders)-1))
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", 7200), time.FixedZone("", -5*3600), time.FixedZone("", 9*3600)}
	date := time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)
	c := &corpus{msgs: make([]message, n), textKey: textKey}
	for i := range c.msgs {
		s := senders[zipf.Uint64()]
		date = date.Add(time.Duration(30+r.IntN(2400)) * time.Second)
		local := date.In(zones[r.IntN(len(zones))])
		from := fmt.Sprintf("%s <%s>", s.name, s.addr)
		if r.IntN(10) == 0 {
			from = "<" + s.addr + ">"
		}
		sw := make([]string, 2+r.IntN(6))
		for j := range sw {
			sw[j] = subjectWords[r.IntN(len(subjectWords))]
		}
		subject := strings.ToUpper(sw[0][:1]) + sw[0][1:] + " " + strings.Join(sw[1:], " ")
		reply := r.IntN(3) == 0
		if reply {
			subject = "Re: " + subject
		}
		domain := s.addr[strings.IndexByte(s.addr, '@')+1:]
		msgID := fmt.Sprintf("<%016x.%d@%s>", r.Uint64(), i, domain)

		var h strings.Builder
		fmt.Fprintf(&h, "Return-Path: <%s>\r\n", s.addr)
		mx := fmt.Sprintf("mx%d.%s", r.IntN(4), domain)
		fmt.Fprintf(&h, "Received: from %s (%s [192.0.2.%d])\r\n\tby mail.bench.test with ESMTPS id %08X\r\n\tfor <bench@bench.test>; %s\r\n",
			mx, mx, 1+r.IntN(250), r.Uint32(), date.Format(time.RFC1123Z))
		if r.IntN(2) == 0 {
			sig := make([]byte, 192)
			for j := range sig {
				sig[j] = byte(r.IntN(256))
			}
			b64 := base64.StdEncoding.EncodeToString(sig)
			fmt.Fprintf(&h, "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel1;\r\n\th=from:to:subject:date:message-id; bh=%s;\r\n\tb=%s\r\n\t%s\r\n",
				domain, b64[:44], b64[44:120], b64[120:])
		}
		fmt.Fprintf(&h, "Message-ID: %s\r\nDate: %s\r\nFrom: %s\r\nTo: Bench User <bench@bench.test>\r\n", msgID, local.Format(time.RFC1123Z), from)
		if r.IntN(4) == 0 {
			cc := senders[r.IntN(len(senders))]
			fmt.Fprintf(&h, "Cc: %s <%s>\r\n", cc.name, cc.addr)
		}
		fmt.Fprintf(&h, "Subject: %s\r\n", subject)
		if reply {
			ref := fmt.Sprintf("<%016x@%s>", r.Uint64(), domains[r.IntN(len(domains))])
			fmt.Fprintf(&h, "In-Reply-To: %s\r\nReferences: %s\r\n", ref, ref)
		}
		h.WriteString("MIME-Version: 1.0\r\n")

		size := 4096 + r.IntN(8192)
		budget := max(size-h.Len()-200, 1000)
		// About one message in a hundred holds textKey, one in fifty another rare word.
		rare := ""
		if r.IntN(100) == 0 {
			rare = textKey
		} else if r.IntN(50) == 0 {
			rare = rareWords[r.IntN(len(rareWords))]
		}
		body := func(k int) string {
			var b strings.Builder
			b.WriteString("Hi Bench,\r\n\r\n")
			at := r.IntN(max(k/8, 1)) // the rare word's place, in words
			col := 0
			for i := 0; b.Len() < k; i++ {
				w := vocabulary[r.IntN(len(vocabulary))]
				if i == at && rare != "" {
					w = rare
				}
				if col+len(w) > 72 {
					b.WriteString("\r\n")
					col = 0
					if r.IntN(8) == 0 {
						b.WriteString("\r\n")
					}
				} else if col > 0 {
					b.WriteByte(' ')
					col++
				}
				if reply && col == 0 && r.IntN(40) == 0 {
					b.WriteString("> ")
					col += 2
				}
				b.WriteString(w)
				col += len(w)
			}
			fmt.Fprintf(&b, "\r\n\r\n-- \r\n%s\r\n", s.name)
			return b.String()
		}
		var m strings.Builder
		m.WriteString(h.String())
		boundary := fmt.Sprintf("=_%016x", r.Uint64())
		switch k := r.IntN(20); {
		case k < 12:
			m.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
			m.WriteString(body(budget))
		case k < 17:
			t := body(budget * 2 / 5)
			html := "<html><body><p>" + strings.ReplaceAll(t, "\r\n\r\n", "</p>\r\n<p>") + "</p></body></html>\r\n"
			fmt.Fprintf(&m, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary)
			fmt.Fprintf(&m, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", boundary, t)
			fmt.Fprintf(&m, "--%s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--%s--\r\n", boundary, html, boundary)
		default:
			att := make([]byte, budget/2*3/4)
			for j := range att {
				att[j] = byte(r.IntN(256))
			}
			fmt.Fprintf(&m, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary)
			fmt.Fprintf(&m, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", boundary, body(budget/2))
			fmt.Fprintf(&m, "--%s\r\nContent-Type: application/pdf; name=\"report-%d.pdf\"\r\nContent-Disposition: attachment; filename=\"report-%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
				boundary, i, i)
			enc := base64.StdEncoding.EncodeToString(att)
			for len(enc) > 76 {
				m.WriteString(enc[:76])
				m.WriteString("\r\n")
				enc = enc[76:]
			}
			fmt.Fprintf(&m, "%s\r\n--%s--\r\n", enc, boundary)
		}
		flags := ""
		switch r.IntN(20) {
		case 0:
			flags = `(\Flagged)`
		case 1, 2:
			flags = `(\Answered)`
		}
		c.msgs[i] = message{raw: []byte(m.String()), from: from, flags: flags, date: date}
		c.bytes += int64(m.Len())
	}
	// Make sure the rare word occurs at least once.
	if mid := &c.msgs[n/2]; !strings.Contains(string(mid.raw), textKey) {
		mid.raw = []byte(strings.Replace(string(mid.raw), "Hi Bench,", "Hi Bench, "+textKey, 1))
		c.bytes += int64(len(textKey) + 1)
	}

	// Search for a frequent sender whose address occurs in no other sender's From field.
	for rank := 3; rank < len(senders) && c.fromKey == ""; rank++ {
		key := senders[rank].addr
		unique := true
		for j, o := range senders {
			if j != rank && strings.Contains(strings.ToLower(o.name+" <"+o.addr+">"), key) {
				unique = false
				break
			}
		}
		if unique {
			c.fromKey = key
		}
	}
	// The expected answers, counted the way a server must: substrings, ignoring case.
	for i, m := range c.msgs {
		if strings.Contains(strings.ToLower(m.from), c.fromKey) {
			c.fromHits = append(c.fromHits, i)
		}
		if strings.Contains(strings.ToLower(string(m.raw)), textKey) {
			c.textHits = append(c.textHits, i)
		}
	}
	return c
}
