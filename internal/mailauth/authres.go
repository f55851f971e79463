package mailauth

import (
	"strings"
)

// AuthResult is one result in an Authentication-Results field (a resinfo of
// RFC 8601 §2.2): method=result, an optional reason, a comment and
// properties.
type AuthResult struct {
	Method  string // "spf", "dkim", "dmarc", "iprev", ...
	Result  string // "pass", "fail", ...
	Reason  string // optional reason=
	Comment string // optional comment, written in parentheses
	Props   []AuthProp
}

// AuthProp is a ptype.property=value of a result, such as
// smtp.mailfrom=user@example.org or header.d=example.org.
type AuthProp struct {
	Type     string // "smtp", "header", "body", "policy"
	Property string
	Value    string
}

// AuthResultsValue returns the value of an Authentication-Results field
// for authservID and results, each result on its own folded line. Without
// results it is "<authserv-id>; none".
func AuthResultsValue(authservID string, results ...AuthResult) string {
	var b strings.Builder
	b.WriteString(authservID)
	if len(results) == 0 {
		b.WriteString("; none")
		return b.String()
	}
	for _, r := range results {
		b.WriteString(";\r\n\t")
		b.WriteString(r.Method)
		b.WriteByte('=')
		b.WriteString(r.Result)
		if r.Comment != "" {
			b.WriteString(" (")
			b.WriteString(commentText(r.Comment))
			b.WriteByte(')')
		}
		if r.Reason != "" {
			b.WriteString(" reason=")
			b.WriteString(quoteValue(r.Reason))
		}
		for _, p := range r.Props {
			if p.Value == "" {
				continue
			}
			b.WriteByte(' ')
			b.WriteString(p.Type)
			b.WriteByte('.')
			b.WriteString(p.Property)
			b.WriteByte('=')
			b.WriteString(propValue(p.Value))
		}
	}
	return b.String()
}

// AuthResultsField returns the whole Authentication-Results field, ending
// in CRLF, ready to prepend to a message.
func AuthResultsField(authservID string, results ...AuthResult) string {
	return "Authentication-Results: " + AuthResultsValue(authservID, results...) + "\r\n"
}

// AuthResult returns the spf result with smtp.mailfrom or smtp.helo.
func (o SPFOutcome) AuthResult() AuthResult {
	r := AuthResult{Method: "spf", Result: string(o.Result)}
	if o.Identity == "helo" {
		r.Props = []AuthProp{{"smtp", "helo", o.Domain}}
	} else {
		r.Props = []AuthProp{{"smtp", "mailfrom", o.Sender}}
	}
	if o.Err != nil && (o.Result == SPFTempError || o.Result == SPFPermError) {
		r.Reason = o.Err.Error()
	}
	return r
}

// DKIMAuthResults returns a dkim result per signature, or dkim=none for an
// unsigned message.
func DKIMAuthResults(results []DKIMResult) []AuthResult {
	if len(results) == 0 {
		return []AuthResult{{Method: "dkim", Result: string(DKIMNone)}}
	}
	out := make([]AuthResult, len(results))
	for i, d := range results {
		out[i] = d.AuthResult()
	}
	return out
}

// AuthResult returns the dkim result with header.d, header.i, header.s and
// header.a.
func (d DKIMResult) AuthResult() AuthResult {
	r := AuthResult{Method: "dkim", Result: string(d.Result), Props: []AuthProp{
		{"header", "d", d.Domain},
		{"header", "i", d.Identifier},
		{"header", "s", d.Selector},
		{"header", "a", d.Algorithm},
	}}
	if d.Err != nil && d.Result != DKIMPass {
		r.Reason = d.Err.Error()
	}
	return r
}

// AuthResult returns the dmarc result with header.from, the policy and
// disposition in a comment.
func (o DMARCOutcome) AuthResult() AuthResult {
	r := AuthResult{Method: "dmarc", Result: string(o.Result), Props: []AuthProp{{"header", "from", o.From}}}
	if o.Record != nil {
		r.Comment = o.PolicyTag + "=" + string(o.Policy) + " dis=" + strings.ToUpper(string(o.Disposition))
	}
	if o.Err != nil && (o.Result == DMARCTempError || o.Result == DMARCPermError) {
		r.Reason = o.Err.Error()
	}
	return r
}

// isToken reports whether s is a MIME token (RFC 2045 §5.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// isDotAtom reports whether s is a dot-atom of RFC 5322 atext.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) < 0 {
			return false
		}
	}
	return true
}

// propValue writes a pvalue: a token, [local-part] "@" domain, or a
// quoted-string.
func propValue(v string) string {
	if isToken(v) {
		return v
	}
	if i := strings.LastIndexByte(v, '@'); i >= 0 && (i == 0 || isDotAtom(v[:i])) && isDotAtom(v[i+1:]) {
		return v
	}
	return quoteString(v)
}

// quoteValue writes a value: a token or a quoted-string.
func quoteValue(v string) string {
	if isToken(v) {
		return v
	}
	return quoteString(v)
}

func quoteString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r' || c == '\n' || c == '\t':
			b.WriteByte(' ')
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// commentText makes s safe inside a comment.
func commentText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '(' || c == ')' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// headerField is one field of a raw header block.
type headerField struct {
	name  string
	value string // unfolded, without the leading space
	start int    // offset of the field's first octet
	end   int    // offset after its final line break
}

// headerFields splits the header block at the start of msg (up to the empty
// line, or all of msg) into fields.
func headerFields(msg []byte) []headerField {
	var out []headerField
	pos := 0
	for pos < len(msg) {
		lineEnd := lineEndAt(msg, pos)
		line := msg[pos:lineEnd]
		if isBlankLine(line) {
			break
		}
		f := headerField{start: pos}
		end := lineEnd
		for end < len(msg) && (msg[end] == ' ' || msg[end] == '\t') {
			end = lineEndAt(msg, end)
		}
		f.end = end
		raw := string(msg[pos:end])
		if name, value, ok := strings.Cut(raw, ":"); ok {
			name = strings.TrimRight(name, " \t")
			if name != "" && !strings.ContainsAny(name, " \t\r\n") {
				f.name = name
				value = strings.ReplaceAll(value, "\r\n", "")
				value = strings.ReplaceAll(value, "\n", "")
				f.value = strings.TrimLeft(value, " \t")
			}
		}
		out = append(out, f)
		pos = end
	}
	return out
}

// lineEndAt returns the offset after the line break of the line starting
// at pos (or len(msg)).
func lineEndAt(msg []byte, pos int) int {
	for i := pos; i < len(msg); i++ {
		if msg[i] == '\n' {
			return i + 1
		}
	}
	return len(msg)
}

func isBlankLine(line []byte) bool {
	s := string(line)
	return s == "\r\n" || s == "\n"
}

// parseAuthservID returns the authserv-id at the start of an
// Authentication-Results value: a token or quoted-string after optional
// comments and whitespace.
func parseAuthservID(value string) string {
	i := skipCFWS(value, 0)
	if i < len(value) && value[i] == '"' {
		var b strings.Builder
		for i++; i < len(value) && value[i] != '"'; i++ {
			if value[i] == '\\' && i+1 < len(value) {
				i++
			}
			b.WriteByte(value[i])
		}
		return b.String()
	}
	start := i
	for i < len(value) && !strings.ContainsRune(" \t\r\n;(", rune(value[i])) {
		i++
	}
	return value[start:i]
}

// skipCFWS skips whitespace and nested comments from offset i.
func skipCFWS(s string, i int) int {
	depth := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n':
			return i
		}
		i++
	}
	return i
}

// StripAuthResults removes from the header of msg every
// Authentication-Results field whose authserv-id is authservID (compared
// without regard to case), so that a message cannot carry results that
// seem to come from this server (RFC 8601 §5). msg may be a header block or
// a whole message; the body is never touched. It returns the message and
// the number of fields removed.
func StripAuthResults(msg []byte, authservID string) ([]byte, int) {
	var out []byte
	removed, last := 0, 0
	for _, f := range headerFields(msg) {
		if !strings.EqualFold(f.name, "Authentication-Results") || !strings.EqualFold(parseAuthservID(f.value), authservID) {
			continue
		}
		out = append(out, msg[last:f.start]...)
		last = f.end
		removed++
	}
	if removed == 0 {
		return msg, 0
	}
	return append(out, msg[last:]...), removed
}
