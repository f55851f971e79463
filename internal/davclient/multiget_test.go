package davclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/davclient"
)

// A server that lists a collection's objects without their data (as some do for a query) is
// asked for them with an addressbook-multiget; a redirect within the server is followed with
// the same method, one to another server is refused.
func TestMultigetAndRedirects(t *testing.T) {
	var multigets int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ada" || p != "pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="dav"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/old/":
			http.Redirect(w, r, "/books/ada/", http.StatusMovedPermanently)
			return
		case r.URL.Path == "/away/":
			http.Redirect(w, r, "https://dav.example.org/books/", http.StatusFound)
			return
		case r.Method == "PROPFIND" && r.URL.Path == "/books/ada/" && r.Header.Get("Depth") == "0":
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/">
<d:response><d:href>/books/ada/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype><d:displayname>Ada</d:displayname><cs:getctag>7</cs:getctag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
<d:propstat><d:prop><d:current-user-principal/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response></d:multistatus>`)
		case r.Method == "REPORT" && strings.Contains(string(body), "addressbook-query"):
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<?xml version="1.0"?><multistatus xmlns="DAV:">
<response><href>/books/ada/</href><propstat><prop><getetag/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response>
<response><href>/books/ada/a%20b.vcf</href><propstat><prop><getetag>"1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/books/ada/c.vcf</href><propstat><prop><getetag>"2"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>`)
		case r.Method == "REPORT" && strings.Contains(string(body), "addressbook-multiget"):
			multigets++
			if !strings.Contains(string(body), "<D:href>/books/ada/a%20b.vcf</D:href>") || !strings.Contains(string(body), "<D:href>/books/ada/c.vcf</D:href>") {
				t.Errorf("multiget body %s", body)
			}
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
<response><href>/books/ada/a%20b.vcf</href><propstat><prop><getetag>"1"</getetag><C:address-data>BEGIN:VCARD
VERSION:3.0
UID:a
FN:A &amp; B
END:VCARD
</C:address-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
<response><href>/books/ada/c.vcf</href><propstat><prop><getetag>"2"</getetag><C:address-data><![CDATA[BEGIN:VCARD
VERSION:4.0
UID:c
FN:C <c@example.org>
END:VCARD
]]></C:address-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>`)
		default:
			t.Errorf("unexpected %s %s depth %q: %s", r.Method, r.URL.Path, r.Header.Get("Depth"), body)
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	c := &davclient.Client{HTTP: srv.Client(), User: "ada", Password: "pw"}
	cols, err := c.Fetch(context.Background(), davclient.AddressBooks, srv.URL+"/old/")
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || cols[0].Name != "Ada" || cols[0].CTag != "7" || cols[0].URL != srv.URL+"/books/ada/" || len(cols[0].Resources) != 2 || multigets != 1 {
		t.Fatalf("%+v (%d multigets)", cols, multigets)
	}
	r := cols[0].Resources
	if r[0].Href != srv.URL+"/books/ada/a%20b.vcf" || r[0].ETag != `"1"` || string(r[0].Data) != "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A & B\r\nEND:VCARD\r\n" {
		t.Errorf("first: %+v %q", r[0], r[0].Data)
	}
	if string(r[1].Data) != "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c\r\nFN:C <c@example.org>\r\nEND:VCARD\r\n" {
		t.Errorf("second: %q", r[1].Data)
	}
	if _, err := c.Fetch(context.Background(), davclient.AddressBooks, srv.URL+"/away/"); err == nil || !strings.Contains(err.Error(), "redirect to another server (dav.example.org) refused") {
		t.Fatalf("redirect away: %v", err)
	}
}
