package console

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// upload posts a spreadsheet to /provision as the form does.
func (b *browser) upload(name string, data []byte, fields url.Values) string {
	b.e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if _, ok := fields["csrf"]; !ok {
		mw.WriteField("csrf", b.csrf)
	}
	for k, vs := range fields {
		for _, v := range vs {
			if v != "" || k != "csrf" {
				mw.WriteField(k, v)
			}
		}
	}
	if data != nil {
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write(data)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+"/provision", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var reportRE = regexp.MustCompile(`href="(/provision/report/[^"?]+)\?format=xlsx"`)

func TestProvisionPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login("admin@acme.test")
	body := b.get("/provision")
	b.want(200, "provisioning page")
	contains(t, body, `href="/provision"`, "navigation")
	contains(t, body, `data-test="template-xlsx"`, "template link")
	checkPage(t, b, "/provision", body)

	// Template and export download as workbooks.
	tpl := b.get("/provision/template?format=xlsx&tenant=Acme")
	b.want(200, "template")
	if ct := b.header.Get("Content-Type"); !strings.Contains(ct, "spreadsheetml") || !strings.Contains(b.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("template content type %q", ct)
	}
	x, err := excelize.OpenReader(strings.NewReader(tpl))
	if err != nil {
		t.Fatal(err)
	}
	if rows, _ := x.GetRows("Domains and COS"); !strings.Contains(strings.Join(rows[1], " "), "acme.test") {
		t.Fatalf("info sheet %v", rows)
	}
	exp := b.get("/provision/export?format=csv")
	b.want(200, "export")
	contains(t, exp, "alice@acme.test", "export")
	lacks(t, exp, "zed@beta.test", "export of another tenant")

	csv := []byte("address,display name,cos,aliases\r\nbob@acme.test,Bob,Business Mail 100 MB,b@acme.test\r\ncarl@acme.test,Carl,Gold,\r\n")
	// The dry run shows the diff and writes nothing.
	body = b.upload("accounts.csv", csv, url.Values{"tenant": {"Acme"}, "action": {"check"}})
	b.want(http.StatusUnprocessableEntity, "dry run with an error")
	contains(t, body, `data-test="row-2"`, "row to create")
	contains(t, body, `no class of service named &#34;Gold&#34;`, "the error")
	contains(t, body, `data-test="n-create">1<`, "summary")
	if _, err := e.dir.GetAccount(e.sys, "bob@acme.test"); err == nil {
		t.Fatal("dry run wrote")
	}
	// All or nothing.
	body = b.upload("accounts.csv", csv, url.Values{"tenant": {"Acme"}, "action": {"apply"}})
	b.want(http.StatusUnprocessableEntity, "refused import")
	contains(t, body, `data-test="prov-refused"`, "refusal")
	// Partial: the valid row goes in, its password shown once and in the report.
	body = b.upload("accounts.csv", csv, url.Values{"tenant": {"Acme"}, "action": {"apply"}, "partial": {"on"}})
	b.want(200, "partial import")
	acc, err := e.dir.GetAccount(e.sys, "bob@acme.test")
	if err != nil || acc.DisplayName != "Bob" {
		t.Fatalf("%v %+v", err, acc)
	}
	pw := regexp.MustCompile(`<td class="mono">([A-Za-z0-9]{16})</td>`).FindStringSubmatch(body)
	if pw == nil {
		t.Fatalf("no generated password in\n%s", body)
	}
	if _, err := e.dir.Authenticate(e.sys, "bob@acme.test", pw[1]); err != nil {
		t.Fatal(err)
	}
	m := reportRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no report link in\n%s", body)
	}
	rep := b.get(m[1] + "?format=csv")
	b.want(200, "report")
	contains(t, rep, pw[1], "password in the report")
	// Another administrator cannot fetch it.
	b2 := e.browser()
	b2.login("admin@beta.test")
	b2.get(m[1] + "?format=csv")
	b2.want(http.StatusSeeOther, "someone else's report")
	b2.get("/provision?tenant=Acme")
	b2.want(http.StatusNotFound, "another tenant's provisioning")
	b2.get("/provision/export?format=csv&tenant=Acme")
	b2.want(http.StatusNotFound, "another tenant's export")

	// Not a spreadsheet, no file, no CSRF token.
	body = b.upload("photo.xlsx", []byte("\x89PNG\r\n\x1a\n\x00\x00"), url.Values{"tenant": {"Acme"}, "action": {"check"}})
	b.want(http.StatusUnprocessableEntity, "not a spreadsheet")
	contains(t, body, `data-test="error-file"`, "error under the file input")
	b.upload("", nil, url.Values{"tenant": {"Acme"}, "action": {"check"}})
	b.want(http.StatusUnprocessableEntity, "no file")
	b.upload("accounts.csv", csv, url.Values{"tenant": {"Acme"}, "action": {"apply"}, "csrf": {""}})
	b.want(http.StatusForbidden, "no CSRF token")

	// Italian.
	b.get("/lang/it?next=/provision")
	body = b.get("/provision")
	contains(t, body, "Caricamento massivo", "Italian page")
}

func TestMobileConfigDownload(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	body := b.loginUser("alice@acme.test", alicePW)
	contains(t, body, `href="/me/mobileconfig"`, "link on the self-service page")
	prof := b.get("/me/mobileconfig")
	b.want(200, "profile")
	if ct := b.header.Get("Content-Type"); ct != "application/x-apple-aspen-config" {
		t.Fatalf("content type %q", ct)
	}
	contains(t, prof, "<string>alice@acme.test</string>", "address in the profile")
	contains(t, prof, "<string>mail.example.test</string>", "server in the profile")
	a := e.browser()
	a.login("admin@acme.test")
	a.get("/me/mobileconfig")
	a.want(http.StatusNotFound, "administrators have no mailbox")
	a.get("/provision")
	a.want(200, "admin")
	b.get("/provision")
	b.want(http.StatusNotFound, "users have no provisioning")
}
