package autoconfig

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/config"
)

type hosted map[string]bool

func (h hosted) IsLocalDomain(ctx context.Context, d string) (bool, error) { return h[d], nil }

func settings() Settings {
	return FromConfig(&config.Config{Hostname: "mail.example.test", TLS: config.TLS{Cert: "cert.pem", Key: "key.pem"},
		Listen: config.Listen{SMTP: "0.0.0.0:25", Submission: ":10587", Submissions: "[::]:10465", IMAP: "127.0.0.1:10143", IMAPS: ":10993",
			POP3: ":10110", POP3S: ":10995", HTTP: ":80", HTTPS: ":8443"}})
}

func TestFromConfig(t *testing.T) {
	s := settings()
	want := Settings{Hostname: "mail.example.test", IMAP: 10143, IMAPS: 10993, POP3: 10110, POP3S: 10995, Submission: 10587, Submissions: 10465, HTTPS: 8443}
	if s != want {
		t.Fatalf("%+v", s)
	}
	if s.WebURL() != "https://mail.example.test:8443/" {
		t.Fatal(s.WebURL())
	}
	// Without a certificate there is no implicit TLS, and a disabled listener is not offered.
	s = FromConfig(&config.Config{Hostname: "h.test", Listen: config.Listen{IMAP: ":143", IMAPS: ":993", Submission: ":587", Submissions: ":465", POP3: ""}})
	if s.IMAPS != 0 || s.Submissions != 0 || s.POP3 != 0 || s.IMAP != 143 || s.Submission != 587 || s.WebURL() != "" {
		t.Fatalf("%+v", s)
	}
}

func serve(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	mux := http.NewServeMux()
	New(settings(), hosted{"acme.test": true}, nil).Register(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestThunderbird(t *testing.T) {
	code, body := serve(t, httptest.NewRequest("GET", WellKnownPath+"?emailaddress=Mario.Rossi%40ACME.test", nil))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var doc clientConfig
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Provider
	if p.Domain != "acme.test" || len(p.Incoming) != 4 || len(p.Outgoing) != 2 {
		t.Fatalf("%+v", p)
	}
	first := p.Incoming[0]
	if first.Type != "imap" || first.Port != 10993 || first.SocketType != "SSL" || first.Hostname != "mail.example.test" || first.Username != "%EMAILADDRESS%" {
		t.Fatalf("%+v", first)
	}
	if o := p.Outgoing[1]; o.Port != 10587 || o.SocketType != "STARTTLS" || o.Authentication != "password-cleartext" {
		t.Fatalf("%+v", o)
	}
	// The autoconfig.<domain> host, without the address.
	req := httptest.NewRequest("GET", AutoconfigPath, nil)
	req.Host = "autoconfig.acme.test:80"
	if code, body := serve(t, req); code != 200 || !strings.Contains(body, `<emailProvider id="acme.test">`) {
		t.Fatalf("%d %s", code, body)
	}
	for _, tc := range []struct {
		url  string
		host string
		code int
	}{
		{WellKnownPath + "?emailaddress=x@other.test", "", 404},
		{WellKnownPath + "?emailaddress=not-an-address", "", 400},
		{WellKnownPath + "?emailaddress=x@bad_domain.test", "", 400},
		{WellKnownPath, "mail.example.test", 400},
		{AutoconfigPath, "autoconfig.other.test", 404},
	} {
		req := httptest.NewRequest("GET", tc.url, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		if code, body := serve(t, req); code != tc.code {
			t.Errorf("%s (%s): %d %s", tc.url, tc.host, code, body)
		}
	}
}

const adRequestBody = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>anna@acme.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

func TestAutodiscover(t *testing.T) {
	for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", "/AutoDiscover/AutoDiscover.xml"} {
		code, body := serve(t, httptest.NewRequest("POST", path, strings.NewReader(adRequestBody)))
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var doc adResponse
		if err := xml.Unmarshal([]byte(body), &doc); err != nil {
			t.Fatal(err)
		}
		ps := doc.Response.Account.Protocol
		if doc.Response.Account.Action != "settings" || len(ps) != 3 {
			t.Fatalf("%+v", doc)
		}
		if ps[0].Type != "IMAP" || ps[0].Port != 10993 || ps[0].LoginName != "anna@acme.test" || ps[0].SSL != "on" {
			t.Fatalf("%+v", ps[0])
		}
		if ps[2].Type != "SMTP" || ps[2].Port != 10465 || ps[2].AuthRequired != "on" {
			t.Fatalf("%+v", ps[2])
		}
		if !strings.Contains(body, `xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"`) ||
			!strings.Contains(body, `xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"`) {
			t.Fatal(body)
		}
	}
	if code, body := serve(t, httptest.NewRequest("GET", "/autodiscover/autodiscover.xml?Email=anna@acme.test", nil)); code != 200 || !strings.Contains(body, "<LoginName>anna@acme.test</LoginName>") {
		t.Fatalf("GET: %d %s", code, body)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", AutodiscoverPath, strings.Replace(adRequestBody, "acme.test", "other.test", 1), 404},
		{"POST", AutodiscoverPath, "<not xml", 400},
		{"POST", AutodiscoverPath, "", 400},
		{"POST", AutodiscoverPath, strings.Replace(adRequestBody, "anna@acme.test", "nobody", 1), 400},
		{"PUT", AutodiscoverPath, adRequestBody, 405},
		{"GET", "/autodiscover/other.xml", "", 404},
	} {
		if code, body := serve(t, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))); code != tc.code {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
}

func TestMobileConfig(t *testing.T) {
	s := settings()
	b, err := s.MobileConfig("anna@acme.test", `Anna & "Co" <x>`)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	dec := xml.NewDecoder(strings.NewReader(text))
	dec.Strict = true
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, text)
		}
	}
	for _, w := range []string{"<string>com.apple.mail.managed</string>", "<string>EmailTypeIMAP</string>", "<integer>10993</integer>",
		"<integer>10465</integer>", "<string>Anna &amp; &#34;Co&#34; &lt;x&gt;</string>", "<key>PayloadUUID</key>", "<string>Configuration</string>"} {
		if !strings.Contains(text, w) {
			t.Errorf("%q missing", w)
		}
	}
	b2, _ := s.MobileConfig("anna@acme.test", "other")
	if first := uuidFor("a"); first != uuidFor("a") || !strings.Contains(string(b2), uuidFor(s.Hostname, "anna@acme.test", "profile")) {
		t.Fatal("profile UUIDs are not stable")
	}
	// POP3 only, STARTTLS only.
	s = Settings{Hostname: "h.test", POP3: 110, Submission: 587}
	b, err = s.MobileConfig("a@b.test", "")
	if err != nil || !strings.Contains(string(b), "EmailTypePOP") || !strings.Contains(string(b), "<integer>587</integer>") {
		t.Fatalf("%v %s", err, b)
	}
	if _, err := (Settings{Hostname: "h.test"}).MobileConfig("a@b.test", ""); err == nil {
		t.Fatal("profile without servers")
	}
}
