package e2e

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
)

// TestProvisionSpreadsheets drives bulk provisioning through the built binary: the template,
// a workbook filled in by a program, the dry run's diff, the import with its report and
// welcome messages, an idempotent re-run, a CSV saved by Italian Excel (";" and Windows-1252),
// the contract's caps on the file as a whole, bad files, the JSON API, and the client
// auto-configuration fetched as Thunderbird and Outlook fetch it.
func TestProvisionSpreadsheets(t *testing.T) {
	curl := needTool(t, "curl")
	in := newInstall(t)
	in.mustRun("tenant", "create", "Rossi", "--contact", "it@rossi.test", "--contract", "subscription")
	in.mustRun("domain", "add", "rossi.test", "--tenant", "Rossi")
	in.mustRun("domain", "add", "rossi.example", "--tenant", "Rossi", "--alias-of", "rossi.test")
	in.mustRun("tenant", "cap", "Rossi", "Business Mail 1.000 MB", "4")
	in.mustRun("tenant", "cap", "Rossi", "Business Mail Plus 5.000 MB", "2")
	in.start()
	path := func(name string) string { return filepath.Join(in.dir, name) }
	accounts := func() int { return in.count(`SELECT COUNT(*) FROM accounts`) }

	// The template names the tenant's domains and classes of service on its second sheet.
	in.mustRun("provision", "template", "--tenant", "Rossi", "-o", path("template.xlsx"))
	x, err := excelize.OpenFile(path("template.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	if sheets := x.GetSheetList(); len(sheets) != 2 || sheets[0] != "Accounts" {
		t.Fatalf("sheets %v", sheets)
	}
	info, _ := x.GetRows("Domains and COS")
	if flat := fmt.Sprint(info); !strings.Contains(flat, "rossi.test") || !strings.Contains(flat, "Business Mail Plus 5.000 MB") {
		t.Fatalf("second sheet: %v", info)
	}
	header, _ := x.GetRows("Accounts")
	if strings.Join(header[0], ",") != "address,password,display name,COS,aliases,distribution lists,forwarding,status,language" {
		t.Fatalf("header %v", header)
	}
	// Fill it in as a customer would.
	for i, r := range [][]any{
		{"mario@rossi.test", "Tevere-Secret-2024!", "Mario Rossi", "Business Mail 1.000 MB", "m.rossi@rossi.test, mario@rossi.example", "tutti@rossi.test", "", "", "it"},
		{"anna@rossi.test", "", "Anna Verdi", "Business Mail Plus 5.000 MB", "", "tutti@rossi.test, ufficio@rossi.test", "", "", "en"},
		{"luigi@rossi.test", "", "Luigi Bianchi", "Business Mail 1.000 MB", "", "", "luigi@example.org", "", ""},
	} {
		if err := x.SetSheetRow("Accounts", fmt.Sprintf("A%d", i+2), &r); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.SaveAs(path("accounts.xlsx")); err != nil {
		t.Fatal(err)
	}

	// The dry run shows the diff and writes nothing.
	out := in.mustRun("provision", "import", path("accounts.xlsx"), "--tenant", "Rossi", "--dry-run")
	for _, w := range []string{"2    create  mario@rossi.test", "4    create  luigi@rossi.test", "lists to create: tutti@rossi.test, ufficio@rossi.test",
		"Business Mail 1.000 MB: 0 in use, 2 after (cap 4)", "3 rows: 3 create, 0 update, 0 unchanged, 0 errors (dry run, nothing written)"} {
		if !strings.Contains(out, w) {
			t.Fatalf("dry run: %q missing in\n%s", w, out)
		}
	}
	if n := accounts(); n != 0 {
		t.Fatalf("the dry run wrote %d accounts", n)
	}

	// The import, with the report and welcome messages.
	out = in.mustRun("provision", "import", path("accounts.xlsx"), "--tenant", "Rossi", "--report", path("report.xlsx"), "--welcome")
	if !strings.Contains(out, "3 create") || !strings.Contains(out, "welcome messages sent: 3") {
		t.Fatalf("import:\n%s", out)
	}
	rep, err := excelize.OpenFile(path("report.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := rep.GetRows("Rapporto")
	passwords := map[string]string{}
	for _, r := range rows[1:] {
		if len(r) > 5 && r[5] != "" {
			passwords[r[1]] = r[5]
		}
	}
	if len(passwords) != 2 || passwords["mario@rossi.test"] != "" {
		t.Fatalf("report passwords %v (%v)", passwords, rows)
	}
	if st := imapsLogin(t, in, "anna@rossi.test", passwords["anna@rossi.test"]); !strings.Contains(st, "OK") {
		t.Fatalf("login with the generated password: %s", st)
	}
	if st := imapsLogin(t, in, "mario@rossi.example", "Tevere-Secret-2024!"); !strings.Contains(st, "OK") {
		t.Fatalf("login with the given password through the alias domain: %s", st)
	}
	// The welcome message carries this node's real ports, in the row's language.
	ic, err := dialIMAP(t, in.addr(portIMAPS), in.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	ic.mustCmd(`LOGIN anna@rossi.test "%s"`, passwords["anna@rossi.test"])
	ic.mustCmd("SELECT INBOX")
	welcome := strings.Join(ic.mustCmd("FETCH 1 BODY[]"), "\n")
	ic.close()
	for _, w := range []string{"Welcome", fmt.Sprintf("port %d (SSL/TLS) or %d (STARTTLS)", portIMAPS+in.offset, portIMAP+in.offset),
		fmt.Sprintf("%d (SSL/TLS) or %d (STARTTLS), with authentication", portSubmissions+in.offset, portSubmission+in.offset), "mail.example.test"} {
		if !strings.Contains(welcome, w) {
			t.Fatalf("welcome message lacks %q:\n%s", w, welcome)
		}
	}
	if n := in.inbox("mario@rossi.test"); n != 1 {
		t.Fatalf("mario's inbox: %d", n)
	}

	// The same file again changes nothing: no new audit rows.
	audit := in.count(`SELECT COUNT(*) FROM audit_log`)
	out = in.mustRun("provision", "import", path("accounts.xlsx"), "--tenant", "Rossi")
	if !strings.Contains(out, "3 rows: 0 create, 0 update, 3 unchanged, 0 errors (nothing to change)") || in.count(`SELECT COUNT(*) FROM audit_log`) != audit {
		t.Fatalf("re-run:\n%s", out)
	}

	// The export (the CLI's, as CSV), imported again, changes nothing either.
	in.mustRun("provision", "export", "--tenant", "Rossi", "-o", path("export.csv"))
	if b, err := os.ReadFile(path("export.csv")); err != nil || !strings.Contains(string(b), "mario@rossi.test") || !strings.Contains(string(b), "m.rossi@rossi.test") {
		t.Fatalf("export: %v\n%s", err, b)
	}
	if out = in.mustRun("provision", "import", path("export.csv"), "--tenant", "Rossi"); !strings.Contains(out, "3 unchanged, 0 errors") {
		t.Fatalf("the export imported again:\n%s", out)
	}

	// A CSV saved by Italian Excel: ";" between cells, CRLF, Windows-1252.
	italian := "indirizzo;password;nome visualizzato;COS;alias;liste di distribuzione\r\n" +
		"luigi@rossi.test;;Luigi Bianchi Jr.;Business Mail Plus 5.000 MB;luigi.b@rossi.test;tutti@rossi.test\r\n" +
		"nicolo@rossi.test;;Niccolò Cesà;Business Mail 1.000 MB;;ufficio@rossi.test\r\n"
	cp, err := charmap.Windows1252.NewEncoder().String(italian)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, in.dir, "italiano.csv", cp)
	out = in.mustRun("provision", "import", path("italiano.csv"), "--tenant", "Rossi")
	if !strings.Contains(out, "1 create, 1 update") || !strings.Contains(out, "Windows-1252") || !strings.Contains(out, `delimiter ';'`) {
		t.Fatalf("Italian CSV:\n%s", out)
	}
	var acc struct {
		DisplayName string `json:"display_name"`
		COS         string `json:"cos"`
	}
	in.runJSON(&acc, "account", "show", "nicolo@rossi.test")
	if acc.DisplayName != "Niccolò Cesà" {
		t.Fatalf("display name %q", acc.DisplayName)
	}
	in.runJSON(&acc, "account", "show", "luigi@rossi.test")
	if acc.COS != "Business Mail Plus 5.000 MB" || acc.DisplayName != "Luigi Bianchi Jr." {
		t.Fatalf("luigi %+v", acc)
	}
	if out = in.mustRun("provision", "import", path("italiano.csv"), "--tenant", "Rossi"); !strings.Contains(out, "2 unchanged") {
		t.Fatalf("Italian CSV again:\n%s", out)
	}

	// The caps hold for the file as a whole: 2 of 4 in use, 3 more do not fit.
	var lines []string
	lines = append(lines, "address,cos")
	for i := range 3 {
		lines = append(lines, fmt.Sprintf("extra%d@rossi.test,Business Mail 1.000 MB", i))
	}
	writeFile(t, in.dir, "extra.csv", strings.Join(lines, "\n")+"\n")
	before := accounts()
	stdout, stderr, code := in.run("provision", "import", path("extra.csv"), "--tenant", "Rossi")
	if code != 1 || !strings.Contains(stdout, "cell B4 (cos): the contract allows 4 accounts") || !strings.Contains(stderr, "nothing was written") || accounts() != before {
		t.Fatalf("over the cap: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if out = in.mustRun("provision", "import", path("extra.csv"), "--tenant", "Rossi", "--partial"); !strings.Contains(out, "2 create") || accounts() != before+2 {
		t.Fatalf("partial:\n%s", out)
	}

	// Bad files get a precise refusal and change nothing.
	writeFile(t, in.dir, "photo.xlsx", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	writeFile(t, in.dir, "wrong.csv", "utente,cognome\nx@rossi.test,X\n")
	writeFile(t, in.dir, "empty.csv", "")
	writeFile(t, in.dir, "aliases.csv", "address,cos,aliases\nmany@rossi.test,Business Mail 1.000 MB,\""+manyAliases(500)+"\"\n")
	for file, want := range map[string]string{
		"photo.xlsx":  "not a spreadsheet",
		"wrong.csv":   `column A of the header (row 1) is "utente"`,
		"empty.csv":   "the file is empty",
		"aliases.csv": "500 aliases; at most 100",
	} {
		before := accounts()
		stdout, stderr, code := in.run("provision", "import", path(file), "--tenant", "Rossi")
		if code != 1 || !strings.Contains(stdout+stderr, want) || accounts() != before {
			t.Errorf("%s: exit %d\n%s\n%s", file, code, stdout, stderr)
		}
	}

	// The JSON API: a dry run of a CSV body, the export.
	apw := writeFile(t, in.dir, "adminpw", "Tenant-Boss-Password-9")
	in.mustRun("admin", "add", "admin@rossi.test", "--role", "tenant", "--tenant", "Rossi", "--password-file", apw)
	tok := regexp.MustCompile(`posta_[A-Za-z0-9_-]+`).FindString(in.mustRun("token", "create", "--admin", "admin@rossi.test", "--name", "prov", "--scope", "write"))
	api := "https://" + in.addr(portHTTPS) + "/api/v1/tenants/Rossi/provision"
	body := runCurl(t, curl, "-H", "Authorization: Bearer "+tok, "-H", "Content-Type: text/csv", "--data-binary", "@"+path("italiano.csv"), api+"?dry_run=1")
	var res struct {
		DryRun  bool           `json:"dry_run"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil || !res.DryRun || res.Summary["unchanged"] != 2 {
		t.Fatalf("API dry run: %v %s", err, body)
	}
	if body = runCurl(t, curl, "-H", "Authorization: Bearer "+tok, api+"/export?format=csv"); !strings.Contains(body, "nicolo@rossi.test") || !strings.Contains(body, "Niccolò Cesà") {
		t.Fatalf("API export: %s", body)
	}

	// Thunderbird: GET with the address, on the HTTP and the HTTPS listener; the ports are the
	// listeners' ports.
	for _, base := range []string{"http://" + in.addr(portHTTP), "https://" + in.addr(portHTTPS)} {
		body := runCurl(t, curl, base+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=anna%40rossi.test")
		var cfg struct {
			Provider struct {
				Domain   string `xml:"domain"`
				Incoming []struct {
					Type     string `xml:"type,attr"`
					Hostname string `xml:"hostname"`
					Port     int    `xml:"port"`
					Socket   string `xml:"socketType"`
				} `xml:"incomingServer"`
				Outgoing []struct {
					Port   int    `xml:"port"`
					Socket string `xml:"socketType"`
				} `xml:"outgoingServer"`
			} `xml:"emailProvider"`
		}
		if err := xml.Unmarshal([]byte(body), &cfg); err != nil {
			t.Fatalf("%s: %v\n%s", base, err, body)
		}
		p := cfg.Provider
		got := []string{}
		for _, s := range p.Incoming {
			got = append(got, s.Type+":"+strconv.Itoa(s.Port)+":"+s.Socket)
		}
		for _, s := range p.Outgoing {
			got = append(got, "smtp:"+strconv.Itoa(s.Port)+":"+s.Socket)
		}
		want := []string{
			fmt.Sprintf("imap:%d:SSL", portIMAPS+in.offset), fmt.Sprintf("imap:%d:STARTTLS", portIMAP+in.offset),
			fmt.Sprintf("pop3:%d:SSL", portPOP3S+in.offset), fmt.Sprintf("pop3:%d:STARTTLS", portPOP3+in.offset),
			fmt.Sprintf("smtp:%d:SSL", portSubmissions+in.offset), fmt.Sprintf("smtp:%d:STARTTLS", portSubmission+in.offset),
		}
		if p.Domain != "rossi.test" || fmt.Sprint(got) != fmt.Sprint(want) || p.Incoming[0].Hostname != "mail.example.test" {
			t.Fatalf("%s: got %v, want %v\n%s", base, got, want, body)
		}
	}
	// The autoconfig.<domain> host, the alias domain, and a domain not hosted here.
	if body := runCurl(t, curl, "-H", "Host: autoconfig.rossi.test", "http://"+in.addr(portHTTP)+"/mail/config-v1.1.xml"); !strings.Contains(body, `<emailProvider id="rossi.test">`) {
		t.Fatalf("autoconfig host: %s", body)
	}
	if body := runCurl(t, curl, "http://"+in.addr(portHTTP)+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=x%40rossi.example"); !strings.Contains(body, "rossi.example") {
		t.Fatalf("alias domain: %s", body)
	}
	if code := curlStatus(t, curl, "http://"+in.addr(portHTTP)+"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=x%40elsewhere.test"); code != "404" {
		t.Fatalf("unknown domain: %s", code)
	}
	// Outlook: Autodiscover POX.
	req := `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>anna@rossi.test</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
	body = runCurl(t, curl, "-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", req, "https://"+in.addr(portHTTPS)+"/autodiscover/autodiscover.xml")
	for _, w := range []string{"<Type>IMAP</Type>", fmt.Sprintf("<Port>%d</Port>", portIMAPS+in.offset), fmt.Sprintf("<Port>%d</Port>", portSubmissions+in.offset),
		"<LoginName>anna@rossi.test</LoginName>", "<Server>mail.example.test</Server>"} {
		if !strings.Contains(body, w) {
			t.Fatalf("autodiscover lacks %q:\n%s", w, body)
		}
	}
}

func manyAliases(n int) string {
	var a []string
	for i := range n {
		a = append(a, fmt.Sprintf("a%d@rossi.test", i))
	}
	return strings.Join(a, ", ")
}

// runCurl runs curl (-sk) and returns its output; the request must succeed (-f).
func runCurl(t *testing.T, curl string, args ...string) string {
	t.Helper()
	out, err := exec.Command(curl, append([]string{"-skf"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// curlStatus returns the HTTP status of a request.
func curlStatus(t *testing.T, curl string, args ...string) string {
	t.Helper()
	out, err := exec.Command(curl, append([]string{"-sk", "-o", os.DevNull, "-w", "%{http_code}"}, args...)...).Output()
	if err != nil {
		t.Fatalf("curl %v: %v", args, err)
	}
	return string(out)
}
