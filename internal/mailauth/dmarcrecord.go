package mailauth

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DMARCPolicy is a requested policy or a disposition: none, quarantine or
// reject.
type DMARCPolicy string

// DMARC policies.
const (
	DMARCPolicyNone       DMARCPolicy = "none"
	DMARCPolicyQuarantine DMARCPolicy = "quarantine"
	DMARCPolicyReject     DMARCPolicy = "reject"
)

// Alignment is an identifier alignment mode.
type Alignment byte

// Alignment modes (RFC 7489 §3.1).
const (
	AlignRelaxed Alignment = 'r'
	AlignStrict  Alignment = 's'
)

func (a Alignment) String() string {
	if a == AlignStrict {
		return "strict"
	}
	return "relaxed"
}

// DMARCRecord is a parsed DMARC policy record (RFC 7489 §6.3), with the np
// tag of the DMARCbis draft.
type DMARCRecord struct {
	Policy            DMARCPolicy // p
	SubdomainPolicy   DMARCPolicy // sp; empty when absent (p applies)
	NonexistentPolicy DMARCPolicy // np; empty when absent
	DKIMAlignment     Alignment   // adkim (default relaxed)
	SPFAlignment      Alignment   // aspf (default relaxed)
	Percent           int         // pct (default 100)
	AggregateReports  []ReportURI // rua
	FailureReports    []ReportURI // ruf
	FailureOptions    []string    // fo (default ["0"])
	ReportFormats     []string    // rf (default ["afrf"])
	ReportInterval    uint32      // ri in seconds (default 86400)
	// PolicyDefaulted reports that p (or sp) was missing or invalid and
	// p=none was assumed because rua holds a valid URI (RFC 7489 §6.6.3).
	PolicyDefaulted bool
}

// ReportURI is a reporting address with its optional size limit.
type ReportURI struct {
	URI     string
	MaxSize uint64 // bytes; 0 means no limit
}

// DMARCSyntaxError is an error in a DMARC record, naming the tag and the
// byte offset where it starts.
type DMARCSyntaxError struct {
	Offset int
	Tag    string // empty when the error is not within a tag
	Msg    string
}

func (e *DMARCSyntaxError) Error() string {
	if e.Tag == "" {
		return fmt.Sprintf("dmarc: offset %d: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("dmarc: tag %q at offset %d: %s", e.Tag, e.Offset, e.Msg)
}

// isDMARCRecord reports whether txt starts with the version tag, which
// selects DMARC records among the TXT records of a name (RFC 7489 §6.6.3).
func isDMARCRecord(txt string) bool {
	txt = strings.TrimLeft(txt, " \t")
	if !strings.HasPrefix(txt, "v") {
		return false
	}
	txt = strings.TrimLeft(txt[1:], " \t")
	if !strings.HasPrefix(txt, "=") {
		return false
	}
	txt = strings.TrimLeft(txt[1:], " \t")
	rest, ok := strings.CutPrefix(txt, "DMARC1")
	rest = strings.TrimLeft(rest, " \t")
	return ok && (rest == "" || rest[0] == ';')
}

// ParseDMARC parses a DMARC record. The first tag must be v=DMARC1; tags are
// separated by ";" with optional whitespace; unknown tags are ignored;
// duplicate tags and invalid values are errors, except that a missing or
// invalid p (or invalid sp) with a valid rua gives p=none (RFC 7489 §6.6.3).
func ParseDMARC(record string) (*DMARCRecord, error) {
	rec := &DMARCRecord{
		DKIMAlignment:  AlignRelaxed,
		SPFAlignment:   AlignRelaxed,
		Percent:        100,
		FailureOptions: []string{"0"},
		ReportFormats:  []string{"afrf"},
		ReportInterval: 86400,
	}
	seen := make(map[string]bool)
	var policyErr error
	first := true
	offset := 0
	for _, spec := range strings.Split(record, ";") {
		start := offset
		offset += len(spec) + 1
		if strings.Trim(spec, " \t\r\n") == "" {
			if first {
				return nil, &DMARCSyntaxError{Offset: start, Msg: "record does not start with v=DMARC1"}
			}
			continue
		}
		lead := len(spec) - len(strings.TrimLeft(spec, " \t\r\n"))
		start += lead
		name, value, ok := strings.Cut(strings.TrimLeft(spec, " \t\r\n"), "=")
		name = strings.TrimRight(name, " \t\r\n")
		value = strings.Trim(value, " \t\r\n")
		if !isTagName(name) {
			return nil, &DMARCSyntaxError{Offset: start, Msg: fmt.Sprintf("invalid tag name %q", name)}
		}
		if !ok {
			return nil, &DMARCSyntaxError{Offset: start, Tag: name, Msg: "missing \"=\""}
		}
		if err := checkTagValue(value); err != nil {
			return nil, &DMARCSyntaxError{Offset: start, Tag: name, Msg: err.Error()}
		}
		if first {
			if name != "v" || value != "DMARC1" {
				return nil, &DMARCSyntaxError{Offset: start, Tag: name, Msg: "record does not start with v=DMARC1"}
			}
			first = false
			seen[name] = true
			continue
		}
		tag := strings.ToLower(name)
		if seen[tag] {
			return nil, &DMARCSyntaxError{Offset: start, Tag: name, Msg: "duplicate tag"}
		}
		seen[tag] = true
		if err := rec.setTag(tag, value); err != nil {
			synErr := &DMARCSyntaxError{Offset: start, Tag: name, Msg: err.Error()}
			if tag == "p" || tag == "sp" {
				policyErr = synErr
				continue
			}
			return nil, synErr
		}
	}
	if first {
		return nil, &DMARCSyntaxError{Msg: "record does not start with v=DMARC1"}
	}
	if policyErr == nil && rec.Policy == "" {
		policyErr = &DMARCSyntaxError{Offset: len(record), Tag: "p", Msg: "missing required tag"}
	}
	if policyErr != nil {
		if len(rec.AggregateReports) == 0 {
			return nil, policyErr
		}
		rec.Policy, rec.SubdomainPolicy, rec.PolicyDefaulted = DMARCPolicyNone, "", true
	}
	return rec, nil
}

func (rec *DMARCRecord) setTag(tag, value string) error {
	var err error
	switch tag {
	case "p":
		rec.Policy, err = parsePolicy(value)
	case "sp":
		rec.SubdomainPolicy, err = parsePolicy(value)
	case "np":
		rec.NonexistentPolicy, err = parsePolicy(value)
	case "adkim":
		rec.DKIMAlignment, err = parseAlignment(value)
	case "aspf":
		rec.SPFAlignment, err = parseAlignment(value)
	case "pct":
		n, perr := strconv.Atoi(value)
		if perr != nil || len(value) > 3 || n < 0 || n > 100 || value[0] == '+' || value[0] == '-' {
			return fmt.Errorf("invalid percentage %q", value)
		}
		rec.Percent = n
	case "rua":
		rec.AggregateReports, err = parseReportURIs(value)
	case "ruf":
		rec.FailureReports, err = parseReportURIs(value)
	case "fo":
		rec.FailureOptions, err = parseColonList(value, func(s string) bool {
			return s == "0" || s == "1" || s == "d" || s == "s"
		})
	case "rf":
		rec.ReportFormats, err = parseColonList(value, isKeyword)
	case "ri":
		n, perr := strconv.ParseUint(value, 10, 32)
		if perr != nil || value[0] == '+' {
			return fmt.Errorf("invalid interval %q", value)
		}
		rec.ReportInterval = uint32(n)
	}
	return err
}

func parsePolicy(v string) (DMARCPolicy, error) {
	switch p := DMARCPolicy(strings.ToLower(v)); p {
	case DMARCPolicyNone, DMARCPolicyQuarantine, DMARCPolicyReject:
		return p, nil
	}
	return "", fmt.Errorf("invalid policy %q", v)
}

func parseAlignment(v string) (Alignment, error) {
	switch strings.ToLower(v) {
	case "r":
		return AlignRelaxed, nil
	case "s":
		return AlignStrict, nil
	}
	return 0, fmt.Errorf("invalid alignment %q", v)
}

// parseReportURIs parses dmarc-uri *( "," dmarc-uri ), each a URI with an
// optional "!" size limit with unit k, m, g or t.
func parseReportURIs(v string) ([]ReportURI, error) {
	var out []ReportURI
	for _, item := range strings.Split(v, ",") {
		item = strings.Trim(item, " \t\r\n")
		var r ReportURI
		uri, size, hasSize := strings.Cut(item, "!")
		if hasSize {
			n, err := parseSize(size)
			if err != nil {
				return nil, fmt.Errorf("URI %q: %w", item, err)
			}
			r.MaxSize = n
		}
		u, err := url.Parse(uri)
		if err != nil || u.Scheme == "" || u.Opaque == "" && u.Host == "" {
			return nil, fmt.Errorf("invalid URI %q", uri)
		}
		if strings.EqualFold(u.Scheme, "mailto") && !strings.Contains(u.Opaque, "@") {
			return nil, fmt.Errorf("invalid mailto URI %q", uri)
		}
		r.URI = uri
		out = append(out, r)
	}
	return out, nil
}

func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			s = s[:len(s)-1]
		}
	}
	if s == "" || s[0] == '+' {
		return 0, errors.New("invalid size")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > (1<<64-1)/mult {
		return 0, errors.New("invalid size")
	}
	return n * mult, nil
}

func parseColonList(v string, valid func(string) bool) ([]string, error) {
	var out []string
	for _, item := range strings.Split(v, ":") {
		item = strings.ToLower(strings.Trim(item, " \t\r\n"))
		if !valid(item) {
			return nil, fmt.Errorf("invalid value %q", item)
		}
		out = append(out, item)
	}
	return out, nil
}

func isKeyword(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return isAlpha(s[0])
}

// isTagName reports whether s is ALPHA *( ALPHA / DIGIT / "_" ) (RFC 6376
// §3.2).
func isTagName(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// checkTagValue checks the characters of a tag-value: visible ASCII but
// ";" and internal whitespace.
func checkTagValue(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			continue
		}
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("invalid character %q in value", c)
		}
	}
	return nil
}

// String returns the record in canonical form, every tag explicit.
func (rec *DMARCRecord) String() string {
	var b strings.Builder
	b.WriteString("v=DMARC1; p=" + string(rec.Policy))
	if rec.SubdomainPolicy != "" {
		b.WriteString("; sp=" + string(rec.SubdomainPolicy))
	}
	if rec.NonexistentPolicy != "" {
		b.WriteString("; np=" + string(rec.NonexistentPolicy))
	}
	b.WriteString("; adkim=" + string(rune(rec.DKIMAlignment)))
	b.WriteString("; aspf=" + string(rune(rec.SPFAlignment)))
	b.WriteString("; pct=" + strconv.Itoa(rec.Percent))
	writeURIs := func(tag string, uris []ReportURI) {
		if len(uris) == 0 {
			return
		}
		b.WriteString("; " + tag + "=")
		for i, u := range uris {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(u.URI)
			if u.MaxSize > 0 {
				b.WriteString("!" + strconv.FormatUint(u.MaxSize, 10))
			}
		}
	}
	writeURIs("rua", rec.AggregateReports)
	writeURIs("ruf", rec.FailureReports)
	b.WriteString("; fo=" + strings.Join(rec.FailureOptions, ":"))
	b.WriteString("; rf=" + strings.Join(rec.ReportFormats, ":"))
	b.WriteString("; ri=" + strconv.FormatUint(uint64(rec.ReportInterval), 10))
	return b.String()
}
