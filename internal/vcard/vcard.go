// Package vcard reads vCard files (RFC 6350 vCard 4.0, RFC 2426 vCard 3.0 and the legacy 2.1
// with quoted-printable values): it splits a file into its cards, keeping each card's text
// byte for byte, checks each card, and extracts the fields an address book indexes (UID, full
// name, e-mail addresses, telephone numbers, organisation).
//
// It only reads: it never rewrites a card, and it stores nothing (the pim package does).
package vcard

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/postamail/posta/internal/contentline"
)

// Card is one vCard of a file.
type Card struct {
	Line     int    // line of its BEGIN:VCARD
	Raw      []byte // its text from BEGIN to END:VCARD and that line's break, as received
	Version  string // 2.1, 3.0 or 4.0
	UID      string // its UID, or one derived from its content when it has none
	HasUID   bool   // whether the card carries a UID property
	FullName string
	Emails   []string // lower case
	Phones   []string
	Org      string
}

// MaxCardBytes bounds one card (a photo inline makes a card large, a megabyte is plenty).
const MaxCardBytes = 4 << 20

// Parse reads every card of data. Cards that are valid are returned even when others are
// not; each problem is a *contentline.Error naming its line. A file with no card at all gives
// an error.
func Parse(data []byte) ([]*Card, []error) {
	var (
		cards []*Card
		errs  []error
		sc    = contentline.NewScanner(data)
		cur   *Card
		lines []contentline.Line
		depth int
		bad   *contentline.Error
		junk  bool // reported text outside cards already, until the next card
		start int
	)
	for sc.Scan() {
		l := *sc.Line()
		if cur == nil {
			if l.Is("BEGIN", "VCARD") {
				cur, lines, depth, bad, junk, start = &Card{Line: l.Num}, nil, 1, nil, false, l.Start
				continue
			}
			if !junk {
				errs = append(errs, contentline.Errorf(l.Num, "expected BEGIN:VCARD, found %q", clip(string(data[l.Start:l.End]))))
				junk = true
			}
			continue
		}
		switch {
		case l.Is("BEGIN", "VCARD"):
			depth++ // a card inside a card (vCard 2.1 AGENT)
		case l.Is("END", "VCARD"):
			depth--
		}
		if depth == 0 {
			cur.Raw = data[start:l.End]
			switch {
			case bad != nil:
				errs = append(errs, bad)
			case len(cur.Raw) > MaxCardBytes:
				errs = append(errs, contentline.Errorf(cur.Line, "card larger than %d bytes", MaxCardBytes))
			default:
				if err := cur.fill(lines); err != nil {
					errs = append(errs, err)
				} else {
					cards = append(cards, cur)
				}
			}
			cur = nil
			continue
		}
		if l.Err != nil && bad == nil {
			bad = l.Err
		}
		if depth == 1 {
			lines = append(lines, l)
		}
	}
	if cur != nil {
		errs = append(errs, contentline.Errorf(cur.Line, "BEGIN:VCARD without END:VCARD"))
	}
	if len(cards) == 0 && len(errs) == 0 {
		errs = append(errs, contentline.Errorf(1, "no vCard in the file (expected BEGIN:VCARD)"))
	}
	return cards, errs
}

// fill checks the card's properties and extracts the indexed fields.
func (c *Card) fill(lines []contentline.Line) *contentline.Error {
	var n, nickname string
	for i := range lines {
		l := &lines[i]
		switch l.Name {
		case "VERSION":
			if c.Version != "" {
				return contentline.Errorf(l.Num, "VERSION given twice")
			}
			c.Version = strings.TrimSpace(l.Value)
			if c.Version != "2.1" && c.Version != "3.0" && c.Version != "4.0" {
				return contentline.Errorf(l.Num, "unsupported vCard version %q (2.1, 3.0 or 4.0)", clip(c.Version))
			}
		case "UID":
			c.UID, c.HasUID = strings.TrimSpace(l.Text()), true
			if c.UID == "" {
				return contentline.Errorf(l.Num, "empty UID")
			}
			if len(c.UID) > 255 {
				return contentline.Errorf(l.Num, "UID longer than 255 bytes")
			}
		case "FN":
			if c.FullName == "" {
				c.FullName = strings.TrimSpace(l.Text())
			}
		case "N":
			n = structuredName(l.Parts(';'))
		case "NICKNAME":
			nickname = strings.TrimSpace(l.Parts(',')[0])
		case "EMAIL":
			e := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(l.Text())), "mailto:")
			if e != "" && !slices.Contains(c.Emails, e) {
				c.Emails = append(c.Emails, e)
			}
		case "TEL":
			t := strings.TrimSpace(l.Text())
			t = strings.TrimPrefix(strings.TrimPrefix(t, "tel:"), "TEL:")
			if t != "" && !slices.Contains(c.Phones, t) {
				c.Phones = append(c.Phones, t)
			}
		case "ORG":
			var parts []string
			for _, p := range l.Parts(';') {
				if p = strings.TrimSpace(p); p != "" {
					parts = append(parts, p)
				}
			}
			c.Org = strings.Join(parts, ", ")
		}
	}
	if c.Version == "" {
		return contentline.Errorf(c.Line, "card without VERSION")
	}
	if c.FullName == "" {
		// FN is required from 3.0 on, but exports of 2.1 cards often lack it: use what names
		// the contact best.
		for _, s := range []string{n, nickname, c.Org, first(c.Emails), first(c.Phones)} {
			if s != "" {
				c.FullName = s
				break
			}
		}
	}
	if !c.HasUID {
		c.UID = derivedUID(c)
	}
	return nil
}

// derivedUID names a card that has no UID by what identifies the person, so that importing
// the same export again finds the card imported before instead of adding it twice.
func derivedUID(c *Card) string {
	h := sha256.New()
	h.Write([]byte(strings.ToLower(c.FullName)))
	for _, list := range [][]string{c.Emails, c.Phones, {strings.ToLower(c.Org)}} {
		s := slices.Clone(list)
		slices.Sort(s)
		h.Write([]byte{0})
		h.Write([]byte(strings.Join(s, "\n")))
	}
	return "derived-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// structuredName turns N (family; given; additional; prefixes; suffixes) into "given family".
func structuredName(parts []string) string {
	get := func(i int) string {
		if i < len(parts) {
			return strings.TrimSpace(strings.ReplaceAll(parts[i], ",", " "))
		}
		return ""
	}
	var out []string
	for _, s := range []string{get(3), get(1), get(2), get(0), get(4)} {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

func first(s []string) string {
	if len(s) > 0 {
		return s[0]
	}
	return ""
}

func clip(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
