package ical_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/postamail/posta/internal/contentline"
	"github.com/postamail/posta/internal/ical"
)

// FuzzICS checks that any input parses without panicking, that every error names a line of
// the input, and that every object returned parses alone to the same object, with bounds in
// order.
func FuzzICS(f *testing.F) {
	for _, name := range []string{"google.ics", "apple.ics", "outlook.ics"} {
		f.Add(read(f, name))
	}
	f.Add([]byte("BEGIN:VCALENDAR\nBEGIN:VTIMEZONE\nTZID:X\nBEGIN:STANDARD\nDTSTART:19700101T000000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYDAY=5MO\nTZOFFSETFROM:+0100\nTZOFFSETTO:-013000\nEND:STANDARD\nEND:VTIMEZONE\nBEGIN:VTODO\nUID:1\nDTSTART;TZID=X:20260301T100000\nDURATION:-P1DT2H\nEND:VTODO\nEND:VCALENDAR\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, errs := ical.Parse(data)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, err := range errs {
			var le *contentline.Error
			if !errors.As(err, &le) || le.Line < 1 || le.Line > lines {
				t.Fatalf("error %v outside lines 1..%d", err, lines)
			}
		}
		for _, o := range objs {
			if o.UID == "" || (o.Component != ical.Event && o.Component != ical.Todo) || !o.End.IsZero() && o.End.Before(o.Start) {
				t.Fatalf("object %+v", o)
			}
			again, errs := ical.Parse(o.Raw)
			if len(errs) != 0 || len(again) != 1 || again[0].UID != o.UID || !again[0].Start.Equal(o.Start) || !again[0].End.Equal(o.End) {
				t.Fatalf("object alone: %q → %+v %v (was %+v)", o.Raw, again, errs, o)
			}
		}
	})
}
