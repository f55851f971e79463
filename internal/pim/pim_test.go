package pim_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/ical"
	"github.com/postamail/posta/internal/pim"
	"github.com/postamail/posta/internal/vcard"
)

type fixture struct {
	dir             *directory.Service
	pim             *pim.Service
	sys, mario, b   context.Context // the operator, mario himself, tenant B's administrator
	marioID, lucaID int64
}

// setup: tenant A with mario@rossi.it, tenant B with luca@bianchi.it and its administrator.
func setup(t *testing.T, d *db.DB) *fixture {
	t.Helper()
	dir := directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}), directory.Options{})
	sys := directory.WithActor(context.Background(), directory.SystemActor("test"))
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nil, dir.SeedStandardCOS(sys))
	must(dir.CreateTenant(sys, directory.TenantSpec{Name: "Rossi Srl", ContactEmail: "it@rossi.it", Contract: "payg"}))
	must(dir.CreateTenant(sys, directory.TenantSpec{Name: "Bianchi SpA", ContactEmail: "it@bianchi.it", Contract: "payg"}))
	must(dir.AddDomain(sys, "Rossi Srl", "rossi.it", directory.DomainOptions{}))
	must(dir.AddDomain(sys, "Bianchi SpA", "bianchi.it", directory.DomainOptions{}))
	pw := "Correct-Horse-42-Battery"
	mario, err := dir.CreateAccount(sys, directory.AccountSpec{Address: "mario@rossi.it", Password: pw, COS: "Business Mail 100 MB"})
	must(nil, err)
	luca, err := dir.CreateAccount(sys, directory.AccountSpec{Address: "luca@bianchi.it", Password: pw, COS: "Business Mail 100 MB"})
	must(nil, err)
	adm, err := dir.CreateAdmin(sys, directory.AdminSpec{Email: "admin@bianchi.it", Password: pw, Role: directory.RoleTenantAdmin, Tenant: "Bianchi SpA"})
	must(nil, err)
	ma, err := dir.UserActor(sys, mario.ID, "test")
	must(nil, err)
	ba, err := dir.AdminActor(sys, adm.ID, "test")
	must(nil, err)
	return &fixture{dir: dir, pim: pim.New(d, dir), sys: sys,
		mario: directory.WithActor(context.Background(), ma), b: directory.WithActor(context.Background(), ba),
		marioID: mario.ID, lucaID: luca.ID}
}

func file(t *testing.T, path string) pim.Source {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return pim.Source{Name: path[strings.LastIndexByte(path, '/')+1:], Data: b}
}

func counts(r *pim.Result) [4]int { return [4]int{r.Imported, r.Updated, r.Skipped, len(r.Errors)} }

func TestImportContacts(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		google, apple := file(t, "../vcard/testdata/google.vcf"), file(t, "../vcard/testdata/apple.vcf")
		// First use: the default address book exists, empty.
		books, err := f.pim.AddressBooks(f.mario, "mario@rossi.it")
		if err != nil || len(books) != 1 || books[0].Name != pim.DefaultBook || books[0].Contacts != 0 {
			t.Fatalf("books: %+v %v", books, err)
		}
		ctag := books[0].CTag
		res, err := f.pim.ImportContacts(f.mario, "mario@rossi.it", "", google, apple)
		if err != nil || counts(res) != [4]int{3, 0, 0, 0} || res.Collection != pim.DefaultBook {
			t.Fatalf("import: %+v %v", res, err)
		}
		// Again: nothing changes, the sync token stays.
		res, err = f.pim.ImportContacts(f.mario, "mario@rossi.it", "", google, apple)
		if err != nil || counts(res) != [4]int{0, 0, 3, 0} {
			t.Fatalf("re-import: %+v %v", res, err)
		}
		books, _ = f.pim.AddressBooks(f.mario, "mario@rossi.it")
		if books[0].CTag != ctag+1 || books[0].Contacts != 3 || books[0].Size != int64(len(google.Data)+len(apple.Data)) {
			t.Fatalf("after two imports: %+v (ctag was %d)", books, ctag)
		}
		// Apple's card changed (same UID): updated, text replaced byte for byte.
		changed := pim.Source{Name: "apple.vcf", Data: bytes.Replace(apple.Data, []byte("TITLE:Commercialista"), []byte("TITLE:Revisore"), 1)}
		res, err = f.pim.ImportContacts(f.mario, "mario@rossi.it", "", changed)
		if err != nil || counts(res) != [4]int{0, 1, 0, 0} {
			t.Fatalf("update: %+v %v", res, err)
		}
		text, err := f.pim.ContactText(f.mario, "mario@rossi.it", "", "6A3E6D1C-1F0B-4C7E-9D1B-2B5F0C8E7A11")
		if err != nil || !bytes.Equal(text, changed.Data) {
			t.Fatalf("stored text: %q %v", text, err)
		}
		// The export is the files, byte for byte: the card changed in place.
		if out, err := f.pim.ExportContacts(f.mario, "mario@rossi.it", ""); err != nil || !bytes.Equal(out, append(append([]byte(nil), google.Data...), changed.Data...)) {
			t.Fatalf("export: %q %v", out, err)
		}
		// Search by name, e-mail, phone and organisation; ordered by name.
		for q, want := range map[string]string{"": "Anna Maria Bianchi,Giulia Verdi,Mario Rossi", "GMAIL": "Mario Rossi", "340 000": "Giulia Verdi", "studio": "Anna Maria Bianchi", "100%": ""} {
			cs, err := f.pim.Contacts(f.mario, "mario@rossi.it", pim.ContactFilter{Text: q})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range cs {
				names = append(names, strings.TrimPrefix(c.FullName, "Dott. "))
			}
			if strings.Join(names, ",") != want {
				t.Errorf("search %q: %v, want %s", q, names, want)
			}
		}
		// Another book, by name; invalid cards listed with their line, the valid one stored.
		mixed := pim.Source{Name: "mixed.vcf", Data: []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ok\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN Broken\r\nEND:VCARD\r\n")}
		res, err = f.pim.ImportContacts(f.mario, "mario@rossi.it", "Lavoro", mixed)
		if err != nil || counts(res) != [4]int{1, 0, 0, 1} || res.Errors[0].Line != 7 || res.Errors[0].Source != "mixed.vcf" {
			t.Fatalf("mixed: %+v %v", res, err)
		}
		if cs, _ := f.pim.Contacts(f.mario, "mario@rossi.it", pim.ContactFilter{Book: "Lavoro"}); len(cs) != 1 || cs[0].FullName != "Ok" || cs[0].Book != "Lavoro" {
			t.Fatalf("book Lavoro: %+v", cs)
		}
		// Nothing valid: refused, naming the line.
		_, err = f.pim.ImportContacts(f.mario, "mario@rossi.it", "", pim.Source{Name: "x.vcf", Data: []byte("hello\n")})
		var de *directory.Error
		if !errors.As(err, &de) || de.Kind != "invalid-vcard" || !strings.Contains(err.Error(), "x.vcf: line 1: expected BEGIN:VCARD") {
			t.Fatalf("invalid file: %v", err)
		}
		if _, err := f.pim.ImportContacts(f.mario, "mario@rossi.it", "a/b", google); !errors.As(err, &de) || de.Field != "book" {
			t.Fatalf("bad book name: %v", err)
		}
		if _, err := f.pim.ExportContacts(f.mario, "mario@rossi.it", "Nessuno"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("export of a missing book: %v", err)
		}
		// A file without a final line break still exports as separate cards.
		f.pim.ImportContacts(f.mario, "mario@rossi.it", "Senza", pim.Source{Data: []byte("BEGIN:VCARD\nVERSION:3.0\nFN:A\nEND:VCARD")})
		f.pim.ImportContacts(f.mario, "mario@rossi.it", "Senza", pim.Source{Data: []byte("BEGIN:VCARD\nVERSION:3.0\nFN:B\nEND:VCARD")})
		out, _ := f.pim.ExportContacts(f.mario, "mario@rossi.it", "Senza")
		if cards, errs := vcard.Parse(out); len(cards) != 2 || len(errs) != 0 {
			t.Fatalf("export without line breaks: %q %v", out, errs)
		}
	})
}

func TestImportCalendarAndRanges(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		g, o, a := file(t, "../ical/testdata/google.ics"), file(t, "../ical/testdata/outlook.ics"), file(t, "../ical/testdata/apple.ics")
		res, err := f.pim.ImportCalendar(f.sys, "mario@rossi.it", "", g, o, a)
		if err != nil || counts(res) != [4]int{6, 0, 0, 0} || res.Collection != pim.DefaultCalendar {
			t.Fatalf("import: %+v %v", res, err)
		}
		if res, err := f.pim.ImportCalendar(f.sys, "mario@rossi.it", "", g, o, a); err != nil || counts(res) != [4]int{0, 0, 6, 0} {
			t.Fatalf("re-import: %+v %v", res, err)
		}
		day := func(s string) time.Time { t, _ := time.Parse("2006-01-02", s); return t }
		tests := []struct {
			from, to string
			want     string
		}{
			{"", "", "standup@google.com,040000008200E00074C5B7101A82E00800000000D0C7B8F4E05FDB01000000000000000010000000A1B2C3D4E5F60718293A4B5C6D7E8F90,outlook-daily-1,0a1b2c3d4e5f@google.com,9C1B2A3D-0E4F-4A5B-8C6D-7E8F9A0B1C2D,natale-2026@google.com"},
			// July: the Outlook meeting and the weekly stand-up (until 29 June) is over.
			{"2026-07-01", "2026-08-01", "040000008200E00074C5B7101A82E00800000000D0C7B8F4E05FDB01000000000000000010000000A1B2C3D4E5F60718293A4B5C6D7E8F90"},
			{"2026-03-01", "2026-03-02", "standup@google.com"},
			// 3 December: the meeting, the daily course (open-ended, COUNT), not Christmas.
			{"2026-12-03", "2026-12-04", "outlook-daily-1,0a1b2c3d4e5f@google.com"},
			// The task due on 10 December (a point in time) and the course.
			{"2026-12-10", "2026-12-11", "outlook-daily-1,9C1B2A3D-0E4F-4A5B-8C6D-7E8F9A0B1C2D"},
			// The all-day event ends at midnight: not on the 26th.
			{"2026-12-26", "2026-12-27", "outlook-daily-1"},
			{"2026-12-25", "", "outlook-daily-1,natale-2026@google.com"},
		}
		for _, tt := range tests {
			var from, to time.Time
			if tt.from != "" {
				from = day(tt.from)
			}
			if tt.to != "" {
				to = day(tt.to)
			}
			objs, err := f.pim.CalendarObjects(f.mario, "mario@rossi.it", pim.ObjectFilter{From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			var uids []string
			for _, o := range objs {
				uids = append(uids, o.UID)
			}
			if strings.Join(uids, ",") != tt.want {
				t.Errorf("%s – %s: %v\nwant %s", tt.from, tt.to, uids, tt.want)
			}
		}
		objs, _ := f.pim.CalendarObjects(f.mario, "mario@rossi.it", pim.ObjectFilter{From: day("2026-12-25"), To: day("2026-12-26")})
		if n := objs[len(objs)-1]; n.Summary != "Natale" || !n.AllDay || n.Recurring || n.Start.Format(time.RFC3339) != "2026-12-25T00:00:00Z" || n.Component != "VEVENT" {
			t.Errorf("Christmas: %+v", n)
		}
		if _, err := f.pim.CalendarObjects(f.mario, "mario@rossi.it", pim.ObjectFilter{From: day("2026-12-25"), To: day("2026-12-01")}); err == nil {
			t.Error("reversed range accepted")
		}
		// The Apple file was one object: kept whole.
		text, err := f.pim.CalendarObjectText(f.mario, "mario@rossi.it", "", "9C1B2A3D-0E4F-4A5B-8C6D-7E8F9A0B1C2D")
		if err != nil || !bytes.Equal(text, a.Data) {
			t.Fatalf("apple text: %v", err)
		}
		// The export is a stream of calendars that gives the same objects again.
		out, err := f.pim.ExportCalendar(f.mario, "mario@rossi.it", "")
		again, perrs := ical.Parse(out)
		if err != nil || len(perrs) != 0 || len(again) != 6 || !bytes.HasSuffix(out, a.Data) {
			t.Fatalf("calendar export: %d objects %v %v", len(again), perrs, err)
		}
		_, err = f.pim.ImportCalendar(f.sys, "mario@rossi.it", "", pim.Source{Name: "x.ics", Data: []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")})
		var de *directory.Error
		if !errors.As(err, &de) || de.Kind != "invalid-icalendar" || !strings.Contains(err.Error(), "line 2: VEVENT without DTSTART") {
			t.Fatalf("invalid calendar: %v", err)
		}
	})
}

// Another tenant's administrator learns nothing and changes nothing; removing the account
// removes its collections.
func TestIsolationAndRemoval(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		vcf := file(t, "../vcard/testdata/google.vcf")
		ics := file(t, "../ical/testdata/google.ics")
		if _, err := f.pim.ImportContacts(f.mario, "mario@rossi.it", "", vcf); err != nil {
			t.Fatal(err)
		}
		if _, err := f.pim.ImportCalendar(f.mario, "mario@rossi.it", "", ics); err != nil {
			t.Fatal(err)
		}
		for name, call := range map[string]func() error{
			"import":   func() error { _, err := f.pim.ImportContacts(f.b, "mario@rossi.it", "", vcf); return err },
			"contacts": func() error { _, err := f.pim.Contacts(f.b, "mario@rossi.it", pim.ContactFilter{}); return err },
			"calendar": func() error { _, err := f.pim.CalendarObjects(f.b, "mario@rossi.it", pim.ObjectFilter{}); return err },
			"books":    func() error { _, err := f.pim.AddressBooks(f.b, "mario@rossi.it"); return err },
			"mario on luca": func() error {
				_, err := f.pim.ImportCalendar(f.mario, "luca@bianchi.it", "", ics)
				return err
			},
			"no actor": func() error { _, err := f.pim.Calendars(context.Background(), "mario@rossi.it"); return err },
		} {
			if err := call(); !errors.Is(err, directory.ErrNotFound) && !errors.Is(err, directory.ErrForbidden) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := f.pim.ImportContacts(f.b, "luca@bianchi.it", "", vcf); err != nil {
			t.Fatalf("tenant B's own account: %v", err)
		}
		if err := f.dir.RemoveAccount(f.sys, "mario@rossi.it"); err != nil {
			t.Fatal(err)
		}
		for table, want := range map[string]int{"address_books": 1, "contacts": 2, "calendars": 0, "calendar_objects": 0} {
			var n int
			if err := d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil || n != want {
				t.Errorf("%s after removal: %d rows %v, want %d (luca's)", table, n, err, want)
			}
		}
	})
}

// Two imports of the same file at once both succeed and store each contact once.
func TestConcurrentImports(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		src := file(t, "../vcard/testdata/google.vcf")
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				_, err := f.pim.ImportContacts(f.mario, "mario@rossi.it", "Nuova", src)
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		books, err := f.pim.AddressBooks(f.mario, "mario@rossi.it")
		if err != nil || len(books) != 2 || books[1].Name != "Nuova" || books[1].Contacts != 2 {
			t.Fatalf("books: %+v %v", books, err)
		}
	})
}

func TestParseBound(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), true},
		{"2026-12-01T10:30:00+01:00", time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC), true},
		{"01/12/2026", time.Time{}, false},
		{"2026-13-01", time.Time{}, false},
		{"tomorrow", time.Time{}, false},
	} {
		got, ok := pim.ParseBound(tc.in)
		if ok != tc.ok || (ok && !got.Equal(tc.want)) {
			t.Errorf("ParseBound(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
