package message

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
)

func envelope(h Header) Envelope {
	e := Envelope{
		Date:      h.Get("Date"),
		Subject:   h.Get("Subject"),
		From:      ParseAddressList(h.Get("From")),
		Sender:    ParseAddressList(h.Get("Sender")),
		ReplyTo:   ParseAddressList(h.Get("Reply-To")),
		To:        ParseAddressList(h.Get("To")),
		Cc:        ParseAddressList(h.Get("Cc")),
		Bcc:       ParseAddressList(h.Get("Bcc")),
		InReplyTo: h.Get("In-Reply-To"),
		MessageID: h.Get("Message-Id"),
	}
	// RFC 9051 §7.5.2: Sender and Reply-To default to From.
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

var addrParser = &mail.AddressParser{WordDecoder: wordDecoder}

// ParseAddressList parses an address list leniently: a list net/mail rejects is split on commas
// and each piece parsed alone, and a piece that still fails is kept as a bare mailbox. Group
// syntax is flattened into its members.
func ParseAddressList(v string) []Address {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if list, err := addrParser.ParseList(v); err == nil {
		return convert(list)
	}
	var out []Address
	for _, piece := range splitAddresses(v) {
		piece = strings.TrimSpace(piece)
		if piece == "" {
			continue
		}
		if a, err := addrParser.Parse(piece); err == nil {
			out = append(out, convert([]*mail.Address{a})...)
			continue
		}
		// Last resort: take what looks like an address.
		addr := piece
		if l, r := strings.LastIndexByte(piece, '<'), strings.LastIndexByte(piece, '>'); l >= 0 && r > l {
			addr = piece[l+1 : r]
		}
		local, host, _ := strings.Cut(strings.TrimSpace(addr), "@")
		out = append(out, Address{Mailbox: local, Host: host})
	}
	return out
}

// splitAddresses splits on commas outside quotes and angle brackets.
func splitAddresses(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth = 1
		case c == '>' && !quoted:
			depth = 0
		case (c == ',' || c == ';') && !quoted && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

func convert(list []*mail.Address) []Address {
	out := make([]Address, 0, len(list))
	for _, a := range list {
		local, host := a.Address, ""
		if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
			local, host = a.Address[:i], a.Address[i+1:]
		}
		out = append(out, Address{Name: a.Name, Mailbox: local, Host: host})
	}
	return out
}

// Addr returns "mailbox@host".
func (a Address) Addr() string {
	if a.Host == "" {
		return a.Mailbox
	}
	return a.Mailbox + "@" + a.Host
}

var msgIDRe = regexp.MustCompile(`<[^<>]+>`)

// NormalizeMessageID returns the message id inside angle brackets, without them; a value
// without brackets is trimmed and returned as is.
func NormalizeMessageID(s string) string {
	if m := msgIDRe.FindString(s); m != "" {
		return strings.TrimSpace(m[1 : len(m)-1])
	}
	return strings.TrimSpace(s)
}

func msgIDList(s string) []string {
	ms := msgIDRe.FindAllString(s, -1)
	if len(ms) == 0 {
		return nil
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = strings.TrimSpace(m[1 : len(m)-1])
	}
	return out
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05",
	"Mon Jan 2 15:04:05 2006",
	"2006-01-02 15:04:05 -0700",
	time.RFC3339,
}

// ParseDate parses a Date header leniently; the zero time means unparseable.
func ParseDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	// Drop comments and trailing garbage such as "(CET)" or "+0100 (GMT+01:00)".
	if i := strings.IndexByte(v, '('); i > 0 {
		v = strings.TrimSpace(v[:i])
	}
	v = strings.Join(strings.Fields(v), " ")
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t
		}
	}
	return time.Time{}
}

// BaseSubject returns the base subject of RFC 5256 §2.1 used by SORT SUBJECT and THREAD:
// without "Re:", "Fw:", "Fwd:" and "[blob]" prefixes, "(fwd)" trailers and "[fwd: ...]"
// wrappers, with white space collapsed.
func BaseSubject(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	for {
		changed := false
		// (2) trailers
		for {
			l := strings.ToLower(s)
			if strings.HasSuffix(l, "(fwd)") {
				s = strings.TrimSpace(s[:len(s)-5])
				continue
			}
			break
		}
		// (3)-(5) leaders
		for {
			n := stripLeader(s)
			if n == s {
				break
			}
			s, changed = n, true
		}
		// (6) [fwd: ...]
		l := strings.ToLower(s)
		if strings.HasPrefix(l, "[fwd:") && strings.HasSuffix(s, "]") {
			s = strings.TrimSpace(s[5 : len(s)-1])
			changed = true
		}
		if !changed {
			return s
		}
	}
}

// stripLeader removes one subj-leader: *subj-blob then "re"/"fw"/"fwd", optional blob, ":".
func stripLeader(s string) string {
	orig := s
	s = strings.TrimLeft(s, " ")
	// blobs
	rest := s
	for strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			break
		}
		after := strings.TrimLeft(rest[end+1:], " ")
		if after == "" {
			break // the blob is the whole subject: keep it (RFC 5256 §2.1 step 5)
		}
		rest = after
	}
	l := strings.ToLower(rest)
	for _, p := range []string{"re", "fwd", "fw"} {
		if !strings.HasPrefix(l, p) {
			continue
		}
		t := rest[len(p):]
		if strings.HasPrefix(t, "[") {
			if end := strings.IndexByte(t, ']'); end >= 0 {
				t = t[end+1:]
			}
		}
		t = strings.TrimLeft(t, " ")
		if strings.HasPrefix(t, ":") {
			return strings.TrimLeft(t[1:], " ")
		}
	}
	if rest != s && rest != "" {
		return rest // a leading blob alone is removed when something follows
	}
	return orig
}
