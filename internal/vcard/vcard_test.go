package vcard_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/contentline"
	"github.com/postamail/posta/internal/vcard"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseExports(t *testing.T) {
	type want struct {
		uid, fn, org    string
		derived         bool
		emails, phones  []string
		version         string
		rawHas, rawEnds string
	}
	tests := []struct {
		file  string
		cards []want
	}{
		{"google.vcf", []want{
			{fn: "Mario Rossi", org: "Rossi Srl", derived: true, version: "3.0", emails: []string{"mario.rossi@rossi.it", "mario.rossi@gmail.example"}, phones: []string{"+39 333 123 4567"}, rawHas: "NOTE:Incontrato alla fiera\\, Milano 2025.\\nChiamare il lunedì.\r\n"},
			{fn: "Giulia Verdi", derived: true, version: "3.0", emails: []string{"giulia@verdi.example"}, phones: []string{"02 555 1234", "+39 340 000 1111"}},
		}},
		{"apple.vcf", []want{
			{uid: "6A3E6D1C-1F0B-4C7E-9D1B-2B5F0C8E7A11", fn: "Dott. Anna Maria Bianchi", org: "Studio Bianchi, Amministrazione", version: "3.0", emails: []string{"anna@studiobianchi.example"}, phones: []string{"+39 347 765 4321", "+39 011 987 6543"}, rawHas: "\r\n sLDBkSEw8UHRofHh0a"},
		}},
		{"outlook.vcf", []want{
			{fn: "Luca Neri", org: "Neri & Figli S.p.A.", derived: true, version: "2.1", emails: []string{"luca.neri@nerifigli.example"}, phones: []string{"+39 02 1234567", "+39 335 7654321"}, rawHas: "=0D=0A=\r\nPiano 2;Milano"},
			// No FN: the name comes from N, decoded from quoted-printable.
			{fn: "Nicolò Ferrà", derived: true, version: "2.1", emails: []string{"nicolo@ferra.example"}},
		}},
		{"vcard4.vcf", []want{
			{uid: "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1", fn: "Rossi, Mario (Ufficio)", org: "Rossi Srl; Divisione Nord", version: "4.0", emails: []string{"mario@rossi.it"}, phones: []string{"+39-333-1234567"}, rawEnds: "END:VCARD\r\n"},
		}},
		{"lf-only.vcf", []want{
			{uid: "urn:uuid:00000000-0bc3-424c-9c26-36c3e1eff6b1", fn: "Rossi, Mario (Ufficio)", org: "Rossi Srl; Divisione Nord", version: "4.0", emails: []string{"mario@rossi.it"}, phones: []string{"+39-333-1234567"}, rawEnds: "END:VCARD\n"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := read(t, tt.file)
			cards, errs := vcard.Parse(data)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(cards) != len(tt.cards) {
				t.Fatalf("%d cards, want %d", len(cards), len(tt.cards))
			}
			var joined []byte
			for i, c := range cards {
				w := tt.cards[i]
				joined = append(joined, c.Raw...)
				if w.uid != "" && c.UID != w.uid || c.HasUID == w.derived || w.derived && !strings.HasPrefix(c.UID, "derived-") {
					t.Errorf("card %d: UID %q (has %v)", i, c.UID, c.HasUID)
				}
				if c.FullName != w.fn || c.Org != w.org || c.Version != w.version {
					t.Errorf("card %d: FN %q ORG %q VERSION %q", i, c.FullName, c.Org, c.Version)
				}
				if !slices.Equal(c.Emails, w.emails) || !slices.Equal(c.Phones, w.phones) {
					t.Errorf("card %d: emails %q phones %q", i, c.Emails, c.Phones)
				}
				if !bytes.Contains(c.Raw, []byte(w.rawHas)) || !bytes.HasSuffix(c.Raw, []byte(w.rawEnds)) || !bytes.HasPrefix(c.Raw, []byte("BEGIN:VCARD")) {
					t.Errorf("card %d: raw %q", i, c.Raw)
				}
				// A card alone parses to the same card.
				again, errs := vcard.Parse(c.Raw)
				if len(errs) > 0 || len(again) != 1 || again[0].UID != c.UID {
					t.Errorf("card %d alone: %v %v", i, again, errs)
				}
			}
			// The cards are the file, byte for byte.
			if !bytes.Equal(joined, data) {
				t.Errorf("cards joined differ from the file")
			}
		})
	}
}

// A byte order mark before the first card, as Windows programs write, is not part of it.
func TestByteOrderMark(t *testing.T) {
	cards, errs := vcard.Parse([]byte("\xef\xbb\xbfBEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEND:VCARD\r\n"))
	if len(errs) > 0 || len(cards) != 1 || !bytes.HasPrefix(cards[0].Raw, []byte("BEGIN:VCARD")) {
		t.Fatalf("%v %v", cards, errs)
	}
}

// A UID-less card gets the same derived UID on every import, and another one when the
// person differs.
func TestDerivedUIDStable(t *testing.T) {
	a, _ := vcard.Parse([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEMAIL:ada@x.example\r\nEND:VCARD\r\n"))
	b, _ := vcard.Parse([]byte("BEGIN:VCARD\nVERSION:3.0\nNOTE:changed\nEMAIL:ADA@x.example\nFN:Ada\nEND:VCARD\n"))
	c, _ := vcard.Parse([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada\r\nEMAIL:ada@y.example\r\nEND:VCARD\r\n"))
	if a[0].UID != b[0].UID || a[0].UID == c[0].UID {
		t.Fatalf("derived UIDs %s %s %s", a[0].UID, b[0].UID, c[0].UID)
	}
}

func TestParseErrors(t *testing.T) {
	good := "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Good\r\nUID:g1\r\nEND:VCARD\r\n"
	tests := []struct {
		name  string
		in    string
		good  int   // valid cards still returned
		lines []int // line of each error
		msg   string
	}{
		{"empty", "", 0, []int{1}, "no vCard"},
		{"not a vcard", "{\"name\":\"x\"}\n", 0, []int{1}, "expected BEGIN:VCARD"},
		{"no END", good + "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cut\r\n", 1, []int{6}, "without END:VCARD"},
		{"line without colon", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN Mario\r\nEND:VCARD\r\n" + good, 1, []int{3}, `expected ":"`},
		{"bad version", good + "BEGIN:VCARD\nVERSION:5.0\nFN:X\nEND:VCARD\n", 1, []int{7}, "unsupported vCard version"},
		{"no version", "BEGIN:VCARD\nFN:X\nEND:VCARD\n", 0, []int{1}, "without VERSION"},
		{"invalid UTF-8", "BEGIN:VCARD\nVERSION:3.0\nFN:\xff\xfe\nEND:VCARD\n", 0, []int{3}, "UTF-8"},
		{"text between cards", good + "garbage\r\nmore\r\n" + good, 2, []int{6}, "expected BEGIN:VCARD"},
		{"unterminated quote", "BEGIN:VCARD\nVERSION:4.0\nTEL;TYPE=\"cell:+1\nFN:x\nEND:VCARD\n", 0, []int{3}, "unterminated"},
		{"folded line error keeps its first line", "BEGIN:VCARD\nVERSION:4.0\nFN:a\nEMAIL;\n =work:x\nEND:VCARD\n", 0, []int{4}, "empty parameter"},
		{"empty UID", "BEGIN:VCARD\nVERSION:4.0\nFN:a\nUID:\nEND:VCARD\n", 0, []int{4}, "empty UID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cards, errs := vcard.Parse([]byte(tt.in))
			if len(cards) != tt.good || len(errs) != len(tt.lines) {
				t.Fatalf("%d cards, errors %v", len(cards), errs)
			}
			for i, err := range errs {
				var le *contentline.Error
				if !errors.As(err, &le) || le.Line != tt.lines[i] || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %d: %v, want line %d with %q", i, err, tt.lines[i], tt.msg)
				}
			}
		})
	}
}
