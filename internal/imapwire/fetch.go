package imapwire

import (
	"strconv"
	"strings"
)

// Section is a body section specification (RFC 9051 §6.4.5).
type Section struct {
	Path      []int
	Specifier string // "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or "MIME"
	Fields    []string
}

// String writes the section as it appears between brackets.
func (s *Section) String() string {
	var b strings.Builder
	for i, n := range s.Path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.Itoa(n))
	}
	if s.Specifier != "" {
		if len(s.Path) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Specifier)
	}
	if len(s.Fields) > 0 {
		b.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(Quote(f))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Partial is a <offset.count> range.
type Partial struct {
	Offset, Count int64
}

// FetchItem is one FETCH data item.
type FetchItem struct {
	// Name is the item in upper case: ENVELOPE, FLAGS, INTERNALDATE, RFC822.SIZE, RFC822,
	// RFC822.HEADER, RFC822.TEXT, UID, BODY, BODYSTRUCTURE, BODY[], BINARY[], BINARY.SIZE[],
	// MODSEQ, SAVEDATE, EMAILID, THREADID, PREVIEW.
	Name    string
	Section *Section // with BODY[], BINARY[], BINARY.SIZE[]
	Peek    bool     // BODY.PEEK / BINARY.PEEK
	Partial *Partial
}

// ResponseName is how the item is named in the FETCH response.
func (it *FetchItem) ResponseName() string {
	if it.Section == nil {
		return it.Name
	}
	name := strings.TrimSuffix(it.Name, "[]") + "[" + it.Section.String() + "]"
	if it.Partial != nil {
		name += "<" + strconv.FormatInt(it.Partial.Offset, 10) + ">"
	}
	return name
}

// SetsSeen reports whether fetching the item sets \Seen (RFC 9051 §6.4.5).
func (it *FetchItem) SetsSeen() bool {
	switch it.Name {
	case "BODY[]", "BINARY[]":
		return !it.Peek
	case "RFC822", "RFC822.TEXT":
		return true
	}
	return false
}

var fetchMacros = map[string][]string{
	"ALL":  {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"},
	"FAST": {"FLAGS", "INTERNALDATE", "RFC822.SIZE"},
	"FULL": {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"},
}

// FetchItems reads a FETCH item, a macro (ALL, FAST, FULL) or a parenthesised list of items.
func (p *Parser) FetchItems() ([]FetchItem, error) {
	if p.Peek() == '(' {
		var items []FetchItem
		err := p.List(func() error {
			it, err := p.fetchItem()
			items = append(items, it)
			return err
		})
		if err == nil && len(items) == 0 {
			err = p.errorf("empty FETCH item list")
		}
		return items, err
	}
	save := p.pos
	if a, err := p.Keyword(); err == nil {
		if m, ok := fetchMacros[a]; ok {
			items := make([]FetchItem, len(m))
			for i, n := range m {
				items[i] = FetchItem{Name: n}
			}
			return items, nil
		}
	}
	p.pos = save
	it, err := p.fetchItem()
	return []FetchItem{it}, err
}

var simpleFetch = map[string]bool{
	"ENVELOPE": true, "FLAGS": true, "INTERNALDATE": true, "RFC822.SIZE": true, "RFC822": true,
	"RFC822.HEADER": true, "RFC822.TEXT": true, "UID": true, "BODYSTRUCTURE": true, "MODSEQ": true,
	"SAVEDATE": true, "EMAILID": true, "THREADID": true, "PREVIEW": true,
}

func (p *Parser) fetchItem() (FetchItem, error) {
	start := p.pos
	for p.pos < len(p.b) && isAtomChar(p.b[p.pos]) && p.b[p.pos] != '[' {
		p.pos++
	}
	name := strings.ToUpper(string(p.b[start:p.pos]))
	if name == "" {
		return FetchItem{}, p.errorf("expected a FETCH item at offset %d", p.pos)
	}
	if p.Peek() != '[' {
		if simpleFetch[name] || name == "BODY" {
			if name == "PREVIEW" && p.Peek() == ' ' && p.pos+1 < len(p.b) && p.b[p.pos+1] == '(' {
				// PREVIEW (LAZY) modifier, RFC 8970
				save := p.pos
				p.pos++
				if err := p.List(func() error { _, err := p.Atom(); return err }); err != nil {
					p.pos = save
				}
			}
			return FetchItem{Name: name}, nil
		}
		return FetchItem{}, p.errorf("unknown FETCH item %q", truncate(name, 30))
	}
	it := FetchItem{}
	switch name {
	case "BODY", "BODY.PEEK":
		it.Name, it.Peek = "BODY[]", name == "BODY.PEEK"
	case "BINARY", "BINARY.PEEK":
		it.Name, it.Peek = "BINARY[]", name == "BINARY.PEEK"
	case "BINARY.SIZE":
		it.Name = "BINARY.SIZE[]"
	default:
		return FetchItem{}, p.errorf("unknown FETCH item %q", truncate(name, 30))
	}
	p.pos++ // [
	sec, err := p.section(it.Name != "BODY[]")
	if err != nil {
		return it, err
	}
	it.Section = sec
	if p.Consume('<') {
		if it.Name == "BINARY.SIZE[]" {
			return it, p.errorf("BINARY.SIZE takes no partial range")
		}
		off, err := p.Number64()
		if err != nil {
			return it, err
		}
		if err := p.Expect('.'); err != nil {
			return it, err
		}
		n, err := p.Number64()
		if err != nil {
			return it, err
		}
		if n == 0 {
			return it, p.errorf("partial count must not be 0")
		}
		if err := p.Expect('>'); err != nil {
			return it, err
		}
		it.Partial = &Partial{Offset: off, Count: n}
	}
	return it, nil
}

// section reads a section spec up to and including "]". binary sections take part numbers
// only.
func (p *Parser) section(binary bool) (*Section, error) {
	s := &Section{}
	for isDigit(p.Peek()) {
		n, err := p.Number()
		if err != nil || n == 0 {
			return nil, p.errorf("bad section part number")
		}
		s.Path = append(s.Path, int(n))
		if !p.Consume('.') {
			break
		}
		if !isDigit(p.Peek()) {
			break
		}
	}
	if p.Peek() != ']' {
		if binary {
			return nil, p.errorf("BINARY sections are part numbers only")
		}
		spec, err := p.charsWhile(func(c byte) bool { return isAtomChar(c) && c != '[' }, "a section")
		if err != nil {
			return nil, err
		}
		s.Specifier = strings.ToUpper(spec)
		switch s.Specifier {
		case "HEADER", "TEXT":
		case "MIME":
			if len(s.Path) == 0 {
				return nil, p.errorf("MIME needs a part number")
			}
		case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			if err := p.SP(); err != nil {
				return nil, err
			}
			err := p.List(func() error {
				f, err := p.AString()
				s.Fields = append(s.Fields, strings.ToUpper(f))
				return err
			})
			if err != nil {
				return nil, err
			}
			if len(s.Fields) == 0 {
				return nil, p.errorf("%s needs at least one field name", s.Specifier)
			}
		default:
			return nil, p.errorf("unknown section %q", truncate(s.Specifier, 30))
		}
	}
	if err := p.Expect(']'); err != nil {
		return nil, err
	}
	return s, nil
}
