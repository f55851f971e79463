package davclient_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/davclient"
	"github.com/postamail/posta/internal/davclient/davtest"
	"github.com/postamail/posta/internal/ical"
	"github.com/postamail/posta/internal/vcard"
)

const (
	card1 = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:rossi-1\r\nFN:Mario Rossi\r\nN:Rossi;Mario;;;\r\nEMAIL;TYPE=INTERNET:mario@rossi.it\r\nNOTE:riga uno\\nriga due\r\nEND:VCARD\r\n"
	card2 = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:verdi-2\r\nFN:Giulia Verdi\r\nTEL;VALUE=uri:tel:+39-02-555\r\nORG:Verdi & C.\r\nEND:VCARD\r\n"
	event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//posta test//EN\r\nBEGIN:VEVENT\r\nUID:meeting-1\r\nDTSTAMP:20261201T090000Z\r\n" +
		"DTSTART;TZID=Europe/Rome:20261203T100000\r\nDTEND;TZID=Europe/Rome:20261203T110000\r\nSUMMARY:Riunione <budget> & conti\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	task = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//posta test//EN\r\nBEGIN:VTODO\r\nUID:task-1\r\nDTSTAMP:20261201T090000Z\r\nDUE;VALUE=DATE:20261210\r\nSUMMARY:Rinnovo\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
)

// put stores a resource on the server with curl.
func put(t *testing.T, s *davtest.Server, path, contentType, body string) {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	out, err := exec.Command(curl, "-sS", "--fail", "--cacert", s.CAFile, "-u", s.User+":"+s.Password, "-X", "PUT",
		"-H", "Content-Type: "+contentType, "--data-binary", body, s.URL+path).CombinedOutput()
	if err != nil {
		t.Fatalf("curl PUT %s: %v %s", path, err, out)
	}
}

// Against Radicale: discovery from the bare host (well-known URL, principal, home set), from
// the principal, and a collection named directly; objects come back with CRLF line ends and
// parse.
func TestFetchFromRadicale(t *testing.T) {
	s := davtest.Start(t)
	s.MakeAddressBook("/mario/rubrica/", "Rubrica")
	s.MakeCalendar("/mario/lavoro/", "Lavoro", "#FF2968")
	put(t, s, "/mario/rubrica/rossi.vcf", "text/vcard", card1)
	put(t, s, "/mario/rubrica/verdi.vcf", "text/vcard", card2)
	put(t, s, "/mario/lavoro/meeting.ics", "text/calendar", event)
	put(t, s, "/mario/lavoro/task.ics", "text/calendar", task)
	ctx := context.Background()
	c := &davclient.Client{HTTP: s.Client(), User: s.User, Password: s.Password}

	for _, url := range []string{s.URL, s.URL + "/", s.URL + "/mario/", s.URL + "/mario/rubrica/"} {
		cols, err := c.Fetch(ctx, davclient.AddressBooks, url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if len(cols) != 1 || cols[0].Name != "Rubrica" || cols[0].URL != s.URL+"/mario/rubrica/" || cols[0].CTag == "" || len(cols[0].Resources) != 2 {
			t.Fatalf("%s: %+v", url, cols)
		}
		var uids []string
		for _, r := range cols[0].Resources {
			cards, errs := vcard.Parse(r.Data)
			if len(errs) > 0 || len(cards) != 1 || !strings.HasSuffix(string(r.Data), "END:VCARD\r\n") || strings.Contains(strings.ReplaceAll(string(r.Data), "\r\n", ""), "\n") || r.ETag == "" {
				t.Fatalf("%s: resource %q: %v", url, r.Data, errs)
			}
			uids = append(uids, cards[0].UID)
		}
		slices.Sort(uids)
		if !slices.Equal(uids, []string{"rossi-1", "urn:uuid:verdi-2"}) {
			t.Errorf("%s: UIDs %v", url, uids)
		}
	}

	cols, err := c.Fetch(ctx, davclient.Calendars, s.URL)
	if err != nil || len(cols) != 1 || cols[0].Name != "Lavoro" || cols[0].Color != "#FF2968" || len(cols[0].Resources) != 2 {
		t.Fatalf("calendars: %+v %v", cols, err)
	}
	summaries := map[string]string{}
	for _, r := range cols[0].Resources {
		objs, errs := ical.Parse(r.Data)
		if len(errs) > 0 || len(objs) != 1 {
			t.Fatalf("calendar resource %q: %v", r.Data, errs)
		}
		summaries[objs[0].UID] = objs[0].Summary
		if objs[0].UID == "meeting-1" && objs[0].Start.Format("2006-01-02T15:04Z07:00") != "2026-12-03T09:00Z" {
			t.Errorf("meeting starts %v", objs[0].Start)
		}
	}
	if summaries["meeting-1"] != "Riunione <budget> & conti" || summaries["task-1"] != "Rinnovo" {
		t.Errorf("summaries %v", summaries)
	}

	// A wrong password is the server's 401, said plainly.
	bad := &davclient.Client{HTTP: s.Client(), User: s.User, Password: "wrong"}
	_, err = bad.Fetch(ctx, davclient.AddressBooks, s.URL+"/mario/rubrica/")
	var de *davclient.Error
	if !errors.As(err, &de) || de.Status != 401 || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("wrong password: %v", err)
	}
	// A collection of the other kind is not taken for this one.
	if _, err := c.Fetch(ctx, davclient.Calendars, s.URL+"/mario/rubrica/"); err == nil {
		t.Fatal("an address book fetched as a calendar")
	}
	// A read limit stops a server that sends too much.
	small := &davclient.Client{HTTP: s.Client(), User: s.User, Password: s.Password, MaxBytes: 300}
	if _, err := small.Fetch(ctx, davclient.AddressBooks, s.URL+"/mario/rubrica/"); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("limit: %v", err)
	}
}

func TestRefusesPlainHTTP(t *testing.T) {
	c := &davclient.Client{User: "u", Password: "p"}
	for _, u := range []string{"http://dav.example.org/", "ftp://x/", "not a url", "https://"} {
		if _, err := c.Fetch(context.Background(), davclient.AddressBooks, u); err == nil || !strings.Contains(err.Error(), "davclient") {
			t.Errorf("%s: %v", u, err)
		}
	}
}
