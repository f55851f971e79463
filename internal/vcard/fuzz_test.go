package vcard_test

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/postamail/posta/internal/contentline"
	"github.com/postamail/posta/internal/vcard"
)

// FuzzVCard checks that any input parses without panicking, that every error names a line of
// the input, and that every card returned is a slice of the input that parses alone to the
// same card.
func FuzzVCard(f *testing.F) {
	for _, name := range []string{"google.vcf", "apple.vcf", "outlook.vcf", "vcard4.vcf", "lf-only.vcf"} {
		f.Add(read(f, name))
	}
	f.Add([]byte("BEGIN:VCARD\nVERSION:2.1\nAGENT:\nBEGIN:VCARD\nVERSION:2.1\nFN:x\nEND:VCARD\nFN:y\nEND:VCARD\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cards, errs := vcard.Parse(data)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, err := range errs {
			var le *contentline.Error
			if !errors.As(err, &le) || le.Line < 1 || le.Line > lines {
				t.Fatalf("error %v outside lines 1..%d", err, lines)
			}
		}
		for _, c := range cards {
			if !bytes.Contains(data, c.Raw) || c.UID == "" || !utf8.ValidString(c.FullName) {
				t.Fatalf("card %+v", c)
			}
			again, errs := vcard.Parse(c.Raw)
			if len(errs) != 0 || len(again) != 1 || again[0].UID != c.UID || again[0].FullName != c.FullName {
				t.Fatalf("card alone: %q → %v %v", c.Raw, again, errs)
			}
		}
	})
}
