package ical_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/contentline"
	"github.com/postamail/posta/internal/ical"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utc(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseExports(t *testing.T) {
	type want struct {
		uid, kind, summary string
		start, end         string
		allDay, recurring  bool
		rawHas, rawHasNot  []string
	}
	tests := []struct {
		file  string
		whole bool // the file is one object: kept whole
		objs  []want
	}{
		{"google.ics", false, []want{
			{uid: "0a1b2c3d4e5f@google.com", kind: ical.Event, summary: "Riunione di reparto", start: "2026-12-03T09:00:00Z", end: "2026-12-03T10:30:00Z",
				rawHas:    []string{"BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n", "TZID:Europe/Rome\r\n", "BEGIN:VALARM\r\n", "LOCATION:Sala riunioni\\, piano 2\r\n", "END:VEVENT\r\nEND:VCALENDAR\r\n"},
				rawHasNot: []string{"Natale", "standup"}},
			{uid: "natale-2026@google.com", kind: ical.Event, summary: "Natale", start: "2026-12-25T00:00:00Z", end: "2026-12-26T00:00:00Z", allDay: true,
				rawHasNot: []string{"BEGIN:VTIMEZONE", "Riunione"}},
			// Weekly until 29 June 21:59:59Z; the moved occurrence travels with it.
			{uid: "standup@google.com", kind: ical.Event, summary: "Stand-up del lunedì", start: "2026-01-05T08:00:00Z", end: "2026-06-29T22:14:59Z", recurring: true,
				rawHas: []string{"RECURRENCE-ID;TZID=Europe/Rome:20260202T090000\r\n", "BEGIN:VTIMEZONE"}},
		}},
		{"apple.ics", true, []want{
			{uid: "9C1B2A3D-0E4F-4A5B-8C6D-7E8F9A0B1C2D", kind: ical.Todo, summary: "Rinnovare il dominio rossi.it", start: "2026-12-10T00:00:00Z", end: "2026-12-10T00:00:00Z", allDay: true},
		}},
		// Outlook's Windows zone name is resolved through the file's VTIMEZONE: summer time
		// in July (+02:00), standard time in December (+01:00).
		{"outlook.ics", false, []want{
			{uid: "040000008200E00074C5B7101A82E00800000000D0C7B8F4E05FDB01000000000000000010000000A1B2C3D4E5F60718293A4B5C6D7E8F90", kind: ical.Event, summary: "Revisione conti Q2",
				start: "2026-07-15T12:30:00Z", end: "2026-07-15T14:00:00Z", rawHas: []string{"TZID:W. Europe Standard Time\r\n", "\\n\\nPortare i bi\r\n lanci."}},
			{uid: "outlook-daily-1", kind: ical.Event, summary: "Corso di formazione", start: "2026-12-01T08:00:00Z", recurring: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := read(t, tt.file)
			objs, errs := ical.Parse(data)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if len(objs) != len(tt.objs) {
				t.Fatalf("%d objects, want %d", len(objs), len(tt.objs))
			}
			for i, o := range objs {
				w := tt.objs[i]
				if o.UID != w.uid || o.Component != w.kind || o.Summary != w.summary || o.AllDay != w.allDay || o.Recurring != w.recurring {
					t.Errorf("object %d: %q %s %q allday=%v recurring=%v", i, o.UID, o.Component, o.Summary, o.AllDay, o.Recurring)
				}
				if !o.Start.Equal(utc(w.start)) || !o.End.Equal(utc(w.end)) {
					t.Errorf("object %d: %v – %v, want %s – %s", i, o.Start, o.End, w.start, w.end)
				}
				if tt.whole && !bytes.Equal(o.Raw, data) {
					t.Errorf("object %d: not the whole file: %q", i, o.Raw)
				}
				for _, s := range w.rawHas {
					if !bytes.Contains(o.Raw, []byte(s)) {
						t.Errorf("object %d: raw lacks %q", i, s)
					}
				}
				for _, s := range w.rawHasNot {
					if bytes.Contains(o.Raw, []byte(s)) {
						t.Errorf("object %d: raw has %q", i, s)
					}
				}
				// Every line of the object is a line of the file, and the object alone gives
				// the same object.
				for _, line := range strings.SplitAfter(string(o.Raw), "\r\n") {
					if !bytes.Contains(data, []byte(line)) {
						t.Errorf("object %d: line %q not in the file", i, line)
					}
				}
				again, errs := ical.Parse(o.Raw)
				if len(errs) > 0 || len(again) != 1 || again[0].UID != o.UID || !again[0].Start.Equal(o.Start) || !again[0].End.Equal(o.End) {
					t.Errorf("object %d alone: %+v %v", i, again, errs)
				}
			}
		})
	}
}

// A byte order mark before the calendar, as Outlook writes, is not part of it.
func TestByteOrderMark(t *testing.T) {
	objs, errs := ical.Parse(append([]byte("\xef\xbb\xbf"), read(t, "apple.ics")...))
	if len(errs) > 0 || len(objs) != 1 || !bytes.Equal(objs[0].Raw, read(t, "apple.ics")) {
		t.Fatalf("%v %v", objs, errs)
	}
}

func TestTimes(t *testing.T) {
	cal := func(body string) string {
		return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + body + "END:VCALENDAR\r\n"
	}
	ev := func(lines string) string { return cal("BEGIN:VEVENT\r\nUID:u\r\n" + lines + "END:VEVENT\r\n") }
	tests := []struct {
		name, in   string
		start, end string
	}{
		{"UTC", ev("DTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\n"), "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z"},
		{"floating taken as UTC", ev("DTSTART:20260301T100000\r\n"), "2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"},
		{"Go zone, summer", ev("DTSTART;TZID=America/New_York:20260704T120000\r\nDURATION:PT2H\r\n"), "2026-07-04T16:00:00Z", "2026-07-04T18:00:00Z"},
		{"vendor prefix", ev("DTSTART;TZID=/mozilla.org/20050126_1/Europe/Rome:20260110T080000\r\nDURATION:P1D\r\n"), "2026-01-10T07:00:00Z", "2026-01-11T07:00:00Z"},
		{"date with duration in weeks", ev("DTSTART;VALUE=DATE:20260810\r\nDURATION:P2W\r\n"), "2026-08-10T00:00:00Z", "2026-08-24T00:00:00Z"},
		{"own zone, fixed offset", cal("BEGIN:VTIMEZONE\r\nTZID:Custom\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n" +
			"BEGIN:VEVENT\r\nUID:u\r\nDTSTART;TZID=Custom:20260301T100000\r\nEND:VEVENT\r\n"), "2026-03-01T04:30:00Z", "2026-03-01T04:30:00Z"},
		// US rules by the second Sunday of March written as BYMONTHDAY (older exporters).
		{"own zone, month days", cal("BEGIN:VTIMEZONE\r\nTZID:Eastern\r\nBEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=SU;BYMONTHDAY=8,9,10,11,12,13,14\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n" +
			"BEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n" +
			"BEGIN:VEVENT\r\nUID:u\r\nDTSTART;TZID=Eastern:20260307T100000\r\nDTEND;TZID=Eastern:20260309T100000\r\nEND:VEVENT\r\n"), "2026-03-07T15:00:00Z", "2026-03-09T14:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := ical.Parse([]byte(tt.in))
			if len(errs) > 0 || len(objs) != 1 {
				t.Fatalf("%v %v", objs, errs)
			}
			if !objs[0].Start.Equal(utc(tt.start)) || !objs[0].End.Equal(utc(tt.end)) {
				t.Errorf("%v – %v, want %s – %s", objs[0].Start, objs[0].End, tt.start, tt.end)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good := "BEGIN:VEVENT\r\nUID:good\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\n"
	cal := func(body string) string { return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + body + "END:VCALENDAR\r\n" }
	tests := []struct {
		name  string
		in    string
		good  int
		lines []int
		msg   string
	}{
		{"empty", "", 0, []int{1}, "no calendar"},
		{"a vCard", "BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\n", 0, []int{1}, "expected BEGIN:VCALENDAR"},
		{"no UID", cal("BEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\n" + good), 1, []int{3}, "without UID"},
		{"no DTSTART", cal(good + "BEGIN:VEVENT\r\nUID:x\r\nSUMMARY:y\r\nEND:VEVENT\r\n"), 1, []int{7}, "without DTSTART"},
		{"bad date", cal(good + "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:2026-01-01\r\nEND:VEVENT\r\n"), 1, []int{9}, "bad date"},
		{"unknown zone", cal("BEGIN:VEVENT\r\nUID:x\r\nDTSTART;TZID=Mars/Olympus:20260101T100000\r\nEND:VEVENT\r\n" + good), 1, []int{5}, "unknown TZID"},
		{"end before start", cal("BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T090000Z\r\nEND:VEVENT\r\n"), 0, []int{6}, "DTEND before DTSTART"},
		{"mismatched END", cal("BEGIN:VEVENT\r\nUID:x\r\nEND:VTODO\r\n"), 0, []int{5}, "does not close BEGIN:VEVENT of line 3"},
		{"no END", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + good, 0, []int{1}, "without END:VCALENDAR"},
		{"bad line in an alarm", cal("BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\nBEGIN:VALARM\r\nTRIGGER -PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\n" + good), 1, []int{7}, `expected ":"`},
		{"bad RRULE", cal("BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\nRRULE:COUNT=3\r\nEND:VEVENT\r\n"), 0, []int{6}, "RRULE without FREQ"},
		{"bad duration", cal("BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\nDURATION:P1H\r\nEND:VEVENT\r\n"), 0, []int{6}, "bad DURATION"},
		{"journal skipped", cal("BEGIN:VJOURNAL\r\nUID:j\r\nEND:VJOURNAL\r\n" + good), 1, []int{3}, "VJOURNAL not imported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, errs := ical.Parse([]byte(tt.in))
			if len(objs) != tt.good || len(errs) != len(tt.lines) {
				t.Fatalf("%d objects, errors %v", len(objs), errs)
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
