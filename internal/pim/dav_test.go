package pim_test

import (
	"testing"

	"github.com/postamail/posta/internal/davclient"
	"github.com/postamail/posta/internal/davclient/davtest"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/pim"
)

// Import from a real CardDAV/CalDAV server (Radicale on loopback), twice: the second time
// nothing is duplicated; a contact changed on the server is updated.
func TestImportFromRadicale(t *testing.T) {
	s := davtest.Start(t)
	s.MakeAddressBook("/mario/amici/", "Amici")
	s.MakeAddressBook("/mario/clienti/", "Clienti")
	s.MakeCalendar("/mario/cal/", "Personale", "#1BADF8FF")
	s.Do("PUT", "/mario/amici/a.vcf", "text/vcard", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a-1\r\nFN:Anna\r\nEMAIL:anna@example.org\r\nEND:VCARD\r\n")
	s.Do("PUT", "/mario/clienti/b.vcf", "text/vcard", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:b-1\r\nFN:Bruno\r\nEND:VCARD\r\n")
	s.Do("PUT", "/mario/cal/e.ics", "text/calendar", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e-1\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261205T100000Z\r\nSUMMARY:Cena\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	c := &davclient.Client{HTTP: s.Client(), User: s.User, Password: s.Password}
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		res, err := f.pim.ImportDAV(f.mario, davclient.AddressBooks, "mario@rossi.it", "", c, s.URL)
		if err != nil || len(res) != 2 || res[0].Collection != "Amici" || res[1].Collection != "Clienti" || counts(res[0]) != [4]int{1, 0, 0, 0} {
			t.Fatalf("first: %+v %v", res, err)
		}
		// Into one named book, then again: skipped.
		for i, want := range [][4]int{{1, 0, 0, 0}, {0, 0, 1, 0}} {
			res, err = f.pim.ImportDAV(f.mario, davclient.AddressBooks, "mario@rossi.it", "Tutti", c, s.URL+"/mario/amici/")
			if err != nil || len(res) != 1 || res[0].Collection != "Tutti" || counts(res[0]) != want {
				t.Fatalf("run %d: %+v %v", i, res, err)
			}
		}
		res, err = f.pim.ImportDAV(f.mario, davclient.Calendars, "mario@rossi.it", "", c, s.URL+"/mario/")
		if err != nil || len(res) != 1 || res[0].Collection != pim.DefaultCalendar || counts(res[0]) != [4]int{1, 0, 0, 0} {
			t.Fatalf("calendar: %+v %v", res, err)
		}
		if cals, err := f.pim.Calendars(f.mario, "mario@rossi.it"); err != nil || len(cals) != 1 || cals[0].Color != "#1BADF8FF" {
			t.Fatalf("calendars: %+v %v", cals, err)
		}
		objs, err := f.pim.CalendarObjects(f.mario, "mario@rossi.it", pim.ObjectFilter{})
		if err != nil || len(objs) != 1 || objs[0].Summary != "Cena" {
			t.Fatalf("objects: %+v %v", objs, err)
		}
		// Tenant B's administrator is refused before the server is asked.
		if _, err := f.pim.ImportDAV(f.b, davclient.AddressBooks, "mario@rossi.it", "", c, s.URL); err == nil {
			t.Fatal("tenant B imported into mario's account")
		}
	})
	// Changed on the server: updated.
	s.Do("PUT", "/mario/amici/a.vcf", "text/vcard", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a-1\r\nFN:Anna Neri\r\nEND:VCARD\r\n")
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	f := setup(t, d)
	f.pim.ImportDAV(f.mario, davclient.AddressBooks, "mario@rossi.it", "X", c, s.URL+"/mario/amici/")
	s.Do("PUT", "/mario/amici/a.vcf", "text/vcard", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a-1\r\nFN:Anna Neri Bianchi\r\nEND:VCARD\r\n")
	res, err := f.pim.ImportDAV(f.mario, davclient.AddressBooks, "mario@rossi.it", "X", c, s.URL+"/mario/amici/")
	if err != nil || counts(res[0]) != [4]int{0, 1, 0, 0} {
		t.Fatalf("changed: %+v %v", res, err)
	}
	if cs, _ := f.pim.Contacts(f.mario, "mario@rossi.it", pim.ContactFilter{Book: "X"}); len(cs) != 1 || cs[0].FullName != "Anna Neri Bianchi" {
		t.Fatalf("contacts: %+v", cs)
	}
}
