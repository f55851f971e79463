package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/davclient/davtest"
)

// Contacts and calendars: a mailbox user uploads a .vcf through the API with curl, the
// operator imports an .ics and a CardDAV address book (Radicale on loopback) with the CLI, and
// every import run twice adds nothing the second time.
func TestContactsAndCalendarImport(t *testing.T) {
	curl := needTool(t, "curl")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	base := "https://" + in.addr(portHTTPS) + "/api/v1"
	jar := filepath.Join(in.dir, "cookies")
	call := func(args ...string) (int, string) {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-sk", "-b", jar, "-c", jar, "-w", "\n%{http_code}"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		s := string(out)
		i := strings.LastIndexByte(s, '\n')
		code := 0
		json.Unmarshal([]byte(s[i+1:]), &code)
		return code, s[:i]
	}
	code, body := call("-H", "Content-Type: application/json", "-d", `{"email":"alice@acme.test","password":"`+testPW+`"}`, base+"/session")
	var sess struct{ CSRF string }
	json.Unmarshal([]byte(body), &sess)
	if code != 200 || sess.CSRF == "" {
		t.Fatalf("login: %d %s", code, body)
	}
	vcf, err := filepath.Abs("../internal/vcard/testdata/google.vcf")
	if err != nil {
		t.Fatal(err)
	}
	upload := func() (int, string) {
		return call("-H", "X-CSRF-Token: "+sess.CSRF, "-H", "Content-Type: text/vcard", "--data-binary", "@"+vcf, base+"/accounts/alice@acme.test/contacts")
	}
	if code, body := upload(); code != 200 || !strings.Contains(body, `"imported": 2`) {
		t.Fatalf("upload: %d %s", code, body)
	}
	if code, body := upload(); code != 200 || !strings.Contains(body, `"skipped": 2`) || !strings.Contains(body, `"imported": 0`) {
		t.Fatalf("upload again: %d %s", code, body)
	}
	// The export is the uploaded file, byte for byte.
	want, err := os.ReadFile(vcf)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(base + "/accounts/alice@acme.test/contacts/export"); code != 200 || body != string(want) {
		t.Fatalf("export: %d %q", code, body)
	}
	if code, body := call(base + "/accounts/alice@acme.test/contacts?q=giulia"); code != 200 || !strings.Contains(body, `"full_name": "Giulia Verdi"`) || strings.Contains(body, "Mario") {
		t.Fatalf("search: %d %s", code, body)
	}
	// Another user's address book is refused to alice.
	if code, body := call(base + "/accounts/bob@acme.test/contacts"); code != 403 && code != 404 {
		t.Fatalf("bob's contacts as alice: %d %s", code, body)
	}
	if code, body := call("-H", "X-CSRF-Token: "+sess.CSRF, "-H", "Content-Type: text/vcard", "--data-binary", "BEGIN:VCARD", base+"/accounts/alice@acme.test/contacts"); code != 422 || !strings.Contains(body, "invalid-vcard") || !strings.Contains(body, "line 1") {
		t.Fatalf("broken upload: %d %s", code, body)
	}

	// The CLI imports an Outlook calendar export, twice.
	ics, err := filepath.Abs("../internal/ical/testdata/outlook.ics")
	if err != nil {
		t.Fatal(err)
	}
	if out := in.mustRun("import", "calendar", "--to", "alice@acme.test", ics); !strings.Contains(out, "Calendar of alice@acme.test: 2 imported, 0 updated, 0 skipped, 0 errors") {
		t.Fatalf("import calendar: %s", out)
	}
	if out := in.mustRun("import", "calendar", "--to", "alice@acme.test", ics); !strings.Contains(out, "0 imported, 0 updated, 2 skipped") {
		t.Fatalf("import calendar again: %s", out)
	}
	var objs []struct {
		Summary, Start string
	}
	in.runJSON(&objs, "calendar", "list", "alice@acme.test", "--from", "2026-07-01", "--to", "2026-08-01")
	if len(objs) != 1 || objs[0].Summary != "Revisione conti Q2" || objs[0].Start != "2026-07-15T12:30:00Z" {
		t.Fatalf("calendar list: %+v", objs)
	}
	if out := in.mustRun("calendar", "list", "alice@acme.test"); !strings.Contains(out, "Corso di formazione") || !strings.Contains(out, "event (recurring)") {
		t.Fatalf("calendar list table: %s", out)
	}
	// The API sees what the CLI imported.
	if code, body := call(base + "/accounts/alice@acme.test/calendars/objects?from=2026-07-15&to=2026-07-16"); code != 200 || !strings.Contains(body, "Revisione conti Q2") {
		t.Fatalf("API range: %d %s", code, body)
	}
	exported := filepath.Join(in.dir, "export.ics")
	in.mustRun("calendar", "export", "alice@acme.test", "-o", exported)
	if data, err := os.ReadFile(exported); err != nil || strings.Count(string(data), "BEGIN:VCALENDAR") != 2 || !strings.Contains(string(data), "TZID:W. Europe Standard Time") {
		t.Fatalf("calendar export: %v %q", err, data)
	}
	bad := writeFile(t, in.dir, "bad.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:2026-13-01\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	if out, errs, code := in.run("import", "calendar", "--to", "alice@acme.test", bad); code != 1 || !strings.Contains(out+errs, "line 5: DTSTART: bad date") {
		t.Fatalf("bad calendar: %d %s %s", code, out, errs)
	}
	if _, errs, code := in.run("import", "contacts", vcf); code != 2 || !strings.Contains(errs, "--to") {
		t.Fatalf("no --to: %d %s", code, errs)
	}

	// From a CardDAV server: discovery from the host, into a named book, twice.
	dav := davtest.Start(t)
	dav.MakeAddressBook("/mario/rubrica/", "Rubrica")
	dav.Do("PUT", "/mario/rubrica/a.vcf", "text/vcard", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dav-1\r\nFN:Dario Dav\r\nEMAIL:dario@example.org\r\nEND:VCARD\r\n")
	pw := writeFile(t, in.dir, "davpw", dav.Password)
	args := []string{"import", "contacts", "--to", "alice@acme.test", "--book", "Dal server", "--dav-url", dav.URL, "--dav-user", dav.User, "--dav-password-file", pw, "--dav-ca-file", dav.CAFile}
	if out := in.mustRun(args...); !strings.Contains(out, "Dal server of alice@acme.test: 1 imported") {
		t.Fatalf("DAV import: %s", out)
	}
	if out := in.mustRun(args...); !strings.Contains(out, "0 imported, 0 updated, 1 skipped") {
		t.Fatalf("DAV import again: %s", out)
	}
	if out := in.mustRun("contacts", "list", "alice@acme.test", "--book", "Dal server"); !strings.Contains(out, "Dario Dav") || !strings.Contains(out, "dario@example.org") {
		t.Fatalf("contacts list: %s", out)
	}
	if out := in.mustRun("contacts", "books", "alice@acme.test"); !strings.Contains(out, "Contacts") || !strings.Contains(out, "Dal server") {
		t.Fatalf("books: %s", out)
	}
	// A wrong DAV password fails with the server's answer.
	wrong := writeFile(t, in.dir, "wrongpw", "nope")
	args[len(args)-3] = wrong
	if out, errs, code := in.run(args...); code != 1 || !strings.Contains(out+errs, "refused the credentials (401)") {
		t.Fatalf("wrong DAV password: %d %s %s", code, out, errs)
	}
	// The audit log has each import that changed something, by whoever made it, with counts
	// and the kind of source; not the runs that changed nothing, nor the DAV password.
	for _, w := range []struct {
		action, actor, source string
		want                  int
	}{
		{"contacts.import", "alice@acme.test", `%"source":"file"%`, 1},
		{"calendar.import", "cli:%", `%"source":"file"%`, 1},
		{"contacts.import", "cli:%", `%"server":"https://127.0.0.1:%/mario/rubrica/"%"source":"carddav"%`, 1},
	} {
		if n := in.count(`SELECT COUNT(*) FROM audit_log WHERE action = ? AND actor LIKE ? AND after LIKE ?`, w.action, w.actor, w.source); n != w.want {
			t.Errorf("audit: %d %s by %s from %s, want %d", n, w.action, w.actor, w.source, w.want)
		}
	}
	if n := in.count(`SELECT COUNT(*) FROM audit_log WHERE action LIKE '%.import'`); n != 3 {
		t.Errorf("audit: %d imports, want 3", n)
	}
	if n := in.count(`SELECT COUNT(*) FROM audit_log WHERE after LIKE ? OR after LIKE '%BEGIN:%'`, "%"+dav.Password+"%"); n != 0 {
		t.Errorf("audit: %d entries with the DAV password or an object's text", n)
	}
}
