package vcard_test

import (
	"bytes"
	"testing"

	"github.com/postamail/posta/internal/vcard"
)

// BenchmarkParse parses an export of 1000 cards of the shapes in testdata.
func BenchmarkParse(b *testing.B) {
	var data []byte
	for range 250 {
		for _, name := range []string{"google.vcf", "apple.vcf", "outlook.vcf"} {
			data = append(data, bytes.ReplaceAll(read(b, name), []byte("UID:"), []byte("X-OLD-UID:"))...)
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if cards, errs := vcard.Parse(data); len(errs) > 0 || len(cards) != 1250 {
			b.Fatal(len(cards), errs)
		}
	}
}
