package imapwire

import (
	"strings"
	"time"
)

// SearchKey is one node of a SEARCH criteria tree. Op is the key in upper case; AND holds a
// parenthesised list (and the top level), NOT one child, OR two; SEQ a sequence set given
// bare.
type SearchKey struct {
	Op    string
	Str   string // string argument; the header field name for HEADER
	Value string // HEADER's value
	Date  time.Time
	Num   int64
	Set   SeqSet
	Kids  []*SearchKey
}

// SearchRequest is a parsed SEARCH (or the criteria part of SORT and THREAD).
type SearchRequest struct {
	// Return is the ESEARCH RETURN options (MIN MAX ALL COUNT SAVE); ReturnGiven reports
	// that "RETURN (...)" was present, even empty (which means ALL).
	Return      []string
	ReturnGiven bool
	Charset     string
	Key         *SearchKey
}

var searchArgs = map[string]string{
	// no argument
	"ALL": "", "ANSWERED": "", "DELETED": "", "DRAFT": "", "FLAGGED": "", "NEW": "", "OLD": "",
	"RECENT": "", "SEEN": "", "UNANSWERED": "", "UNDELETED": "", "UNDRAFT": "", "UNFLAGGED": "",
	"UNSEEN": "",
	// astring
	"BCC": "s", "BODY": "s", "CC": "s", "FROM": "s", "SUBJECT": "s", "TEXT": "s", "TO": "s",
	"EMAILID": "s", "THREADID": "s",
	// flag keyword
	"KEYWORD": "k", "UNKEYWORD": "k",
	// date
	"BEFORE": "d", "ON": "d", "SINCE": "d", "SENTBEFORE": "d", "SENTON": "d", "SENTSINCE": "d",
	"SAVEDBEFORE": "d", "SAVEDON": "d", "SAVEDSINCE": "d",
	// number
	"LARGER": "n", "SMALLER": "n", "OLDER": "n", "YOUNGER": "n",
	// others
	"UID": "set", "HEADER": "hdr", "NOT": "not", "OR": "or", "MODSEQ": "modseq", "SAVEDATESUPPORTED": "",
}

// Search reads SEARCH arguments: [RETURN (...)] [CHARSET x] key *(SP key).
func (p *Parser) Search() (*SearchRequest, error) {
	req := &SearchRequest{}
	if p.peekKeyword("RETURN") {
		p.Keyword()
		if err := p.SP(); err != nil {
			return nil, err
		}
		req.ReturnGiven = true
		err := p.List(func() error {
			o, err := p.Keyword()
			switch o {
			case "MIN", "MAX", "ALL", "COUNT", "SAVE":
			default:
				if err == nil {
					err = p.errorf("unknown RETURN option %q", truncate(o, 20))
				}
			}
			req.Return = append(req.Return, o)
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
	if p.peekKeyword("CHARSET") {
		p.Keyword()
		if err := p.SP(); err != nil {
			return nil, err
		}
		cs, err := p.AString()
		if err != nil {
			return nil, err
		}
		req.Charset = strings.ToUpper(cs)
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
	key, err := p.SearchKeys()
	req.Key = key
	return req, err
}

// SearchKeys reads one or more search keys separated by spaces up to the end (an implicit
// AND).
func (p *Parser) SearchKeys() (*SearchKey, error) {
	and := &SearchKey{Op: "AND"}
	for {
		k, err := p.searchKey(0)
		if err != nil {
			return nil, err
		}
		and.Kids = append(and.Kids, k)
		if !p.More() {
			return and, nil
		}
		if err := p.SP(); err != nil {
			return nil, err
		}
	}
}

func (p *Parser) peekKeyword(w string) bool {
	n := len(w)
	return len(p.b)-p.pos > n && strings.EqualFold(string(p.b[p.pos:p.pos+n]), w) && p.b[p.pos+n] == ' '
}

func (p *Parser) searchKey(depth int) (*SearchKey, error) {
	if depth > 50 {
		return nil, p.errorf("search criteria nested too deeply")
	}
	if p.Peek() == '(' {
		and := &SearchKey{Op: "AND"}
		err := p.List(func() error {
			k, err := p.searchKey(depth + 1)
			and.Kids = append(and.Kids, k)
			return err
		})
		if err == nil && len(and.Kids) == 0 {
			err = p.errorf("empty search list")
		}
		return and, err
	}
	if c := p.Peek(); isDigit(c) || c == '*' || c == '$' {
		set, err := p.SeqSet()
		return &SearchKey{Op: "SEQ", Set: set}, err
	}
	op, err := p.Keyword()
	if err != nil {
		return nil, err
	}
	kind, ok := searchArgs[op]
	if !ok {
		return nil, p.errorf("unknown search key %q", truncate(op, 30))
	}
	k := &SearchKey{Op: op}
	if kind == "" {
		return k, nil
	}
	if err := p.SP(); err != nil {
		return nil, err
	}
	switch kind {
	case "s":
		k.Str, err = p.AString()
	case "k":
		k.Str, err = p.Flag()
	case "d":
		k.Date, err = p.Date()
	case "n":
		k.Num, err = p.Number64()
	case "set":
		k.Set, err = p.SeqSet()
	case "hdr":
		if k.Str, err = p.AString(); err == nil {
			if err = p.SP(); err == nil {
				k.Value, err = p.AString()
			}
		}
	case "not":
		var c *SearchKey
		c, err = p.searchKey(depth + 1)
		k.Kids = []*SearchKey{c}
	case "or":
		var a, b *SearchKey
		if a, err = p.searchKey(depth + 1); err == nil {
			if err = p.SP(); err == nil {
				b, err = p.searchKey(depth + 1)
			}
		}
		k.Kids = []*SearchKey{a, b}
	case "modseq":
		// MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162)
		if p.Peek() == '"' {
			if _, err = p.String(); err == nil {
				if err = p.SP(); err == nil {
					if _, err = p.Atom(); err == nil {
						err = p.SP()
					}
				}
			}
		}
		if err == nil {
			k.Num, err = p.Number64()
		}
	}
	return k, err
}
