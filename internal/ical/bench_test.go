package ical_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/postamail/posta/internal/ical"
)

// BenchmarkParse parses a calendar of 1000 events in a zone named only by the file's own
// VTIMEZONE (the slow path), split into 1000 objects.
func BenchmarkParse(b *testing.B) {
	src := read(b, "outlook.ics")
	head := src[:bytes.Index(src, []byte("BEGIN:VEVENT"))]
	var body bytes.Buffer
	body.Write(head)
	for i := range 1000 {
		fmt.Fprintf(&body, "BEGIN:VEVENT\r\nUID:ev-%d\r\nDTSTART;TZID=\"W. Europe Standard Time\":2026%02d%02dT100000\r\nDURATION:PT1H\r\nSUMMARY:Evento %d\r\nEND:VEVENT\r\n", i, i%12+1, i%28+1, i)
	}
	body.WriteString("END:VCALENDAR\r\n")
	data := body.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if objs, errs := ical.Parse(data); len(errs) > 0 || len(objs) != 1000 {
			b.Fatal(len(objs), errs)
		}
	}
}
