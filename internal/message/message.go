// Package message parses an RFC 5322 / MIME message once, when it is stored, into everything
// its readers need later: the IMAP envelope, the body structure with the byte offsets of every
// part (so any BODY[section] is cut from the stored bytes without parsing again), the decoded
// subject and thread keys, and the text for the search index.
//
// It is lenient with broken mail (a bad header or MIME structure degrades to text/plain, as
// robust servers do) and strict with limits (nesting and part counts). It does no I/O and
// touches no storage.
package message

import (
	"bytes"
	"errors"
	"mime"
	"strings"
	"time"
)

// Limits on structure, to bound the work a hostile message can cause.
const (
	MaxDepth = 50
	MaxParts = 10000
	// MaxText bounds the text kept for the search index.
	MaxText = 1 << 20
)

// ErrTooComplex is returned for messages nested deeper than MaxDepth or with more than
// MaxParts parts.
var ErrTooComplex = errors.New("message structure too complex")

// Address is one address of an IMAP envelope (RFC 9051 §7.5.2).
type Address struct {
	Name    string `json:"n,omitempty"`
	Mailbox string `json:"m,omitempty"`
	Host    string `json:"h,omitempty"`
}

// Envelope is the IMAP ENVELOPE of a message: raw header values, addresses parsed.
type Envelope struct {
	Date      string    `json:"d,omitempty"`
	Subject   string    `json:"s,omitempty"`
	From      []Address `json:"f,omitempty"`
	Sender    []Address `json:"se,omitempty"`
	ReplyTo   []Address `json:"rt,omitempty"`
	To        []Address `json:"t,omitempty"`
	Cc        []Address `json:"c,omitempty"`
	Bcc       []Address `json:"b,omitempty"`
	InReplyTo string    `json:"i,omitempty"`
	MessageID string    `json:"id,omitempty"`
}

// Part is one node of the body structure. Offsets are into the raw message.
type Part struct {
	Type              string      `json:"t"`
	Subtype           string      `json:"st"`
	Params            [][2]string `json:"p,omitempty"`
	ID                string      `json:"id,omitempty"`
	Description       string      `json:"de,omitempty"`
	Encoding          string      `json:"e,omitempty"`
	Disposition       string      `json:"di,omitempty"`
	DispositionParams [][2]string `json:"dp,omitempty"`
	Language          []string    `json:"l,omitempty"`
	Location          string      `json:"lo,omitempty"`
	MD5               string      `json:"md5,omitempty"`
	HeaderStart       int64       `json:"hs"`
	BodyStart         int64       `json:"bs"`
	End               int64       `json:"en"`
	Lines             int64       `json:"li,omitempty"`
	Envelope          *Envelope   `json:"env,omitempty"`
	Parts             []*Part     `json:"ps,omitempty"`
}

// Size is the size in octets of the part's body.
func (p *Part) Size() int64 { return p.End - p.BodyStart }

// IsMultipart reports whether the part is a multipart/*.
func (p *Part) IsMultipart() bool { return p.Type == "multipart" }

// IsMessage reports whether the part encapsulates a message (message/rfc822 or message/global).
func (p *Part) IsMessage() bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && len(p.Parts) == 1
}

// Param returns a Content-Type parameter.
func (p *Part) Param(name string) string {
	for _, kv := range p.Params {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// Parsed is everything computed from a message at delivery.
type Parsed struct {
	Size        int64     `json:"size"`
	Envelope    Envelope  `json:"env"`
	Body        *Part     `json:"body"`
	MessageID   string    `json:"mid,omitempty"`
	InReplyTo   []string  `json:"irt,omitempty"`
	References  []string  `json:"refs,omitempty"`
	Date        time.Time `json:"date"`
	Subject     string    `json:"subj"`
	BaseSubject string    `json:"bsubj"`
	Text        string    `json:"-"`
	Preview     string    `json:"prev"`
	Attachments bool      `json:"att"`
	// CRLFExtra is how many octets longer the message is when sent with CRLF line endings and
	// a final line break (POP3 sizes; IMAP's RFC822.SIZE stays the stored size).
	CRLFExtra int64 `json:"crlfx,omitempty"`
}

// Section returns the part named by an IMAP section number (RFC 9051 §6.4.5): in a multipart,
// part n is its nth child; in an encapsulated message, the parts of that message; a
// non-multipart part is its own part 1.
func (p *Parsed) Section(path []int) (*Part, bool) {
	cur := p.Body
	for _, n := range path {
		if n < 1 || cur == nil {
			return nil, false
		}
		var kids []*Part
		switch {
		case cur.IsMultipart():
			kids = cur.Parts
		case cur.IsMessage():
			inner := cur.Parts[0]
			if inner.IsMultipart() {
				kids = inner.Parts
			} else {
				kids = []*Part{inner}
			}
		default:
			kids = []*Part{cur}
		}
		if n > len(kids) {
			return nil, false
		}
		cur = kids[n-1]
	}
	return cur, cur != nil
}

type parser struct {
	raw   []byte
	parts int
	text  strings.Builder
	att   bool
	// quiet is above zero while parsing parts whose text is not searched: the other versions
	// of a multipart/alternative that has a text/plain one.
	quiet int
}

// Parse parses raw. It fails only on ErrTooComplex.
func Parse(raw []byte) (*Parsed, error) {
	ps := &parser{raw: raw}
	h, bodyStart := ParseHeader(raw)
	root, err := ps.part(h, 0, int64(bodyStart), int64(len(raw)), "text", "plain", 0)
	if err != nil {
		return nil, err
	}
	p := &Parsed{Size: int64(len(raw)), Body: root, Envelope: envelope(h)}
	p.Subject = DecodeHeaderValue(h.Get("Subject"))
	p.BaseSubject = BaseSubject(p.Subject)
	p.MessageID = NormalizeMessageID(h.Get("Message-Id"))
	p.InReplyTo = msgIDList(h.Get("In-Reply-To"))
	p.References = msgIDList(h.Get("References"))
	p.Date = ParseDate(h.Get("Date"))
	p.Text = ps.text.String()
	p.Preview = preview(p.Text, 200)
	p.Attachments = ps.att
	p.CRLFExtra = int64(bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n")))
	if n := len(raw); n > 0 && raw[n-1] != '\n' {
		p.CRLFExtra += 2
		if raw[n-1] == '\r' {
			p.CRLFExtra-- // "...\r" becomes "...\r\n"
		}
	}
	return p, nil
}

// part builds the node whose header h spans raw[hs:bs] and body raw[bs:end].
func (ps *parser) part(h Header, hs, bs, end int64, defType, defSub string, depth int) (*Part, error) {
	ps.parts++
	if depth > MaxDepth || ps.parts > MaxParts {
		return nil, ErrTooComplex
	}
	p := &Part{HeaderStart: hs, BodyStart: bs, End: end, Type: defType, Subtype: defSub}
	if ct := h.Get("Content-Type"); ct != "" {
		t, params := parseMediaType(ct)
		if typ, sub, ok := strings.Cut(t, "/"); ok && typ != "" && sub != "" {
			p.Type, p.Subtype, p.Params = typ, sub, params
		} else {
			p.Type, p.Subtype = "text", "plain" // RFC 2045 §5.2: unparseable means text/plain
		}
	}
	if p.Type == "text" && p.Param("charset") == "" && h.Get("Content-Type") == "" {
		p.Params = append(p.Params, [2]string{"charset", "us-ascii"})
	}
	p.ID = h.Get("Content-Id")
	p.Description = h.Get("Content-Description")
	p.Encoding = strings.ToUpper(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if p.Encoding == "" {
		p.Encoding = "7BIT"
	}
	if d := h.Get("Content-Disposition"); d != "" {
		p.Disposition, p.DispositionParams = parseMediaType(d)
	}
	if l := h.Get("Content-Language"); l != "" {
		for _, x := range strings.Split(l, ",") {
			if x = strings.TrimSpace(x); x != "" {
				p.Language = append(p.Language, x)
			}
		}
	}
	p.Location = h.Get("Content-Location")
	p.MD5 = h.Get("Content-Md5")
	body := ps.raw[bs:end]
	switch {
	case p.Type == "multipart":
		if err := ps.multipart(p, body, depth); err != nil {
			return nil, err
		}
	case p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global") && !isEncoded(p.Encoding):
		ih, ibs := ParseHeader(body)
		env := envelope(ih)
		p.Envelope = &env
		inner, err := ps.part(ih, bs, bs+int64(ibs), end, "text", "plain", depth+1)
		if err != nil {
			return nil, err
		}
		p.Parts = []*Part{inner}
		p.Lines = int64(bytes.Count(body, []byte("\n")))
	default:
		if p.Type == "text" {
			p.Lines = int64(bytes.Count(body, []byte("\n")))
		}
		ps.collectText(p, body)
	}
	return p, nil
}

func isEncoded(enc string) bool { return enc == "BASE64" || enc == "QUOTED-PRINTABLE" }

// multipart splits body on the boundary (RFC 2046 §5.1.1). A multipart without a boundary or
// without any part is treated as text/plain.
func (ps *parser) multipart(p *Part, body []byte, depth int) error {
	boundary := p.Param("boundary")
	if boundary == "" {
		p.Type, p.Subtype = "text", "plain"
		p.Lines = int64(bytes.Count(body, []byte("\n")))
		return nil
	}
	defSub := "plain"
	defType := "text"
	if p.Subtype == "digest" {
		defType, defSub = "message", "rfc822"
	}
	delim := []byte("--" + boundary)
	base := p.BodyStart
	var starts []int // offsets (in body) of the content after each delimiter line
	var ends []int   // offsets of the line break before the next delimiter
	closed := false
	pos := 0
	for pos <= len(body) && !closed {
		idx := indexDelimiter(body, pos, delim)
		if idx < 0 {
			break
		}
		// The CRLF before the delimiter belongs to the delimiter.
		before := idx
		if before > 0 && body[before-1] == '\n' {
			before--
			if before > 0 && body[before-1] == '\r' {
				before--
			}
		}
		if len(starts) > len(ends) {
			ends = append(ends, max(before, starts[len(starts)-1]))
		}
		after := idx + len(delim)
		if bytes.HasPrefix(body[after:], []byte("--")) {
			closed = true
			break
		}
		nl := bytes.IndexByte(body[after:], '\n')
		if nl < 0 {
			break
		}
		starts = append(starts, after+nl+1)
		pos = after + nl + 1
	}
	if len(starts) > len(ends) {
		ends = append(ends, len(body))
	}
	if len(starts) == 0 {
		p.Type, p.Subtype, p.Params = "text", "plain", nil
		p.Lines = int64(bytes.Count(body, []byte("\n")))
		return nil
	}
	heads := make([]Header, len(starts))
	headLens := make([]int, len(starts))
	for i, s := range starts {
		heads[i], headLens[i] = ParseHeader(body[s:ends[i]])
	}
	// The versions of a multipart/alternative carry the same text (RFC 2046 §5.1.4): with a
	// text/plain one, only that one is searched, not the HTML again.
	plain := -1
	if p.Subtype == "alternative" {
		for i, h := range heads {
			if t, _ := parseMediaType(h.Get("Content-Type")); t == "text/plain" || t == "" {
				plain = i
				break
			}
		}
	}
	for i, s := range starts {
		quiet := plain >= 0 && i != plain
		if quiet {
			ps.quiet++
		}
		child, err := ps.part(heads[i], base+int64(s), base+int64(s+headLens[i]), base+int64(ends[i]), defType, defSub, depth+1)
		if quiet {
			ps.quiet--
		}
		if err != nil {
			return err
		}
		p.Parts = append(p.Parts, child)
	}
	return nil
}

// indexDelimiter finds the next line in body, at or after from, that starts with delim.
func indexDelimiter(body []byte, from int, delim []byte) int {
	for from <= len(body) {
		i := bytes.Index(body[from:], delim)
		if i < 0 {
			return -1
		}
		at := from + i
		if at == 0 || body[at-1] == '\n' {
			return at
		}
		from = at + 1
	}
	return -1
}

// parseMediaType parses a Content-Type or Content-Disposition value leniently: the value
// lowercased and the parameters in order with lowercased names.
func parseMediaType(v string) (string, [][2]string) {
	t, params, err := mime.ParseMediaType(v)
	if err == nil {
		// mime returns a map; recover the written order from the raw value.
		var ordered [][2]string
		seen := map[string]bool{}
		for _, seg := range strings.Split(v, ";")[1:] {
			name, _, _ := strings.Cut(seg, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			name, _, _ = strings.Cut(name, "*")
			if val, ok := params[name]; ok && !seen[name] {
				ordered = append(ordered, [2]string{name, val})
				seen[name] = true
			}
		}
		for name, val := range params {
			if !seen[name] {
				ordered = append(ordered, [2]string{name, val})
			}
		}
		return t, ordered
	}
	segs := strings.Split(v, ";")
	t = strings.ToLower(strings.TrimSpace(segs[0]))
	var out [][2]string
	for _, seg := range segs[1:] {
		name, val, ok := strings.Cut(seg, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if name != "" {
			out = append(out, [2]string{name, val})
		}
	}
	return t, out
}

func preview(text string, n int) string {
	var b strings.Builder
	for f := range strings.FieldsSeq(text) { // lazily: only the first words are read
		if b.Len()+len(f)+1 > n {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	return b.String()
}
