package console

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/pim"
)

// importFile posts a file to /me/import as the self-service form does.
func (b *browser) importFile(name string, data []byte, csrf string) string {
	b.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if csrf != "" {
		mw.WriteField("csrf", csrf)
	}
	if data != nil {
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+"/me/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var statRE = regexp.MustCompile(`data-test="n-(imported|updated|skipped|errors)">(\d+)<`)

func importCounts(body string) map[string]string {
	out := map[string]string{}
	for _, m := range statRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestSelfImport(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	body := b.loginUser("alice@acme.test", alicePW)
	contains(t, body, `data-test="self-import"`, "import form")
	contains(t, body, `enctype="multipart/form-data"`, "file upload")
	contains(t, body, `data-test="pim-counts">0 contacts · 0 events and tasks<`, "counts before")
	vcf, err := os.ReadFile("../vcard/testdata/google.vcf")
	if err != nil {
		t.Fatal(err)
	}
	broken := append(append([]byte(nil), vcf...), "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Rotto\r\nTEL;TYPE=\"cell:1\r\nEND:VCARD\r\n"...)
	body = b.importFile("google.vcf", broken, b.csrf)
	b.want(200, "import")
	checkPage(t, b, "/me/import", body)
	if c := importCounts(body); c["imported"] != "2" || c["updated"] != "0" || c["skipped"] != "0" || c["errors"] != "1" {
		t.Fatalf("first import: %v", c)
	}
	contains(t, body, "line 28: TEL: unterminated quoted value", "per-item error with its line")
	contains(t, body, `data-test="pim-counts">2 contacts`, "counts after")
	// Again: nothing new.
	body = b.importFile("google.vcf", vcf, b.csrf)
	if c := importCounts(body); c["imported"] != "0" || c["skipped"] != "2" || c["errors"] != "0" {
		t.Fatalf("second import: %v", c)
	}
	// The first import is in the audit log under alice's name, with its counts; the second,
	// which changed nothing, is not.
	var imports []directory.AuditEntry
	entries, _ := e.dir.ListAudit(e.sys, "Acme", 100)
	for _, en := range entries {
		if en.Action == "contacts.import" {
			imports = append(imports, en)
		}
	}
	if len(imports) != 1 || imports[0].Actor != "alice@acme.test" || imports[0].Target != "alice@acme.test" || imports[0].Remote == "" ||
		imports[0].After != `{"book":"Contacts","errors":1,"files":1,"imported":2,"skipped":0,"source":"file","updated":0}` {
		t.Fatalf("audit of the imports: %+v", imports)
	}
	// A calendar goes to the calendar, whatever the file is called.
	ics, err := os.ReadFile("../ical/testdata/google.ics")
	if err != nil {
		t.Fatal(err)
	}
	body = b.importFile("export", ics, b.csrf)
	if c := importCounts(body); c["imported"] != "3" {
		t.Fatalf("calendar import: %v", c)
	}
	contains(t, body, "Imported into Calendar", "target")
	objs, err := e.pim.CalendarObjects(e.sys, "alice@acme.test", pim.ObjectFilter{})
	if err != nil || len(objs) != 3 {
		t.Fatalf("stored: %v %v", objs, err)
	}
	// The contacts page lists them, searches them, and shows the coming events.
	soon := time.Now().UTC().AddDate(0, 0, 2).Format("20060102")
	b.importFile("soon.ics", []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:soon\r\nDTSTART;VALUE=DATE:"+soon+"\r\nSUMMARY:Pranzo di lavoro\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), b.csrf)
	body = b.get("/me/contacts")
	b.want(200, "contacts page")
	checkPage(t, b, "/me/contacts", body)
	contains(t, body, `aria-current="page"><span class="ico ico-book"`, "navigation")
	contains(t, body, `data-test="contact-name">Giulia Verdi<`, "a contact")
	contains(t, body, "mario.rossi@gmail.example", "an e-mail address")
	contains(t, body, "Pranzo di lavoro", "an event of the coming days")
	body = b.get("/me/contacts?q=GIULIA")
	contains(t, body, "Giulia Verdi", "search")
	lacks(t, body, "Mario Rossi", "search")
	// Refusals: no file, not a vCard or calendar, nothing valid; without the CSRF token.
	b.importFile("x.vcf", nil, b.csrf)
	b.want(http.StatusUnprocessableEntity, "no file")
	body = b.importFile("notes.txt", []byte("hello"), b.csrf)
	b.want(http.StatusUnprocessableEntity, "unknown file")
	contains(t, body, "neither a vCard", "unknown file message")
	body = b.importFile("x.vcf", []byte("BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n"), b.csrf)
	b.want(http.StatusUnprocessableEntity, "nothing valid")
	contains(t, body, "card without VERSION", "why")
	b.importFile("google.vcf", vcf, "")
	b.want(http.StatusForbidden, "no CSRF token")
	// An administrator has no such page.
	a := e.browser()
	a.login("admin@acme.test")
	a.importFile("google.vcf", vcf, a.csrf)
	a.want(http.StatusNotFound, "administrator importing")
	a.get("/me/contacts")
	a.want(http.StatusNotFound, "administrator's contacts page")
}
