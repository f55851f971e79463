// Package davtest runs a real CardDAV and CalDAV server, Radicale (Debian's radicale
// package), on a loopback port with TLS and one user, so that tests import from the real
// protocol. Tests are skipped where Radicale is not installed. It is for tests only.
package davtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Server is a running Radicale.
type Server struct {
	URL            string // https://127.0.0.1:PORT
	User, Password string
	CAFile         string // the PEM certificate clients must trust
	Pool           *x509.CertPool
	t              testing.TB
}

// Start runs Radicale for the test's duration, with user "mario" and a random password; it
// skips the test when Radicale is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("radicale")
	if err != nil {
		t.Skip("radicale is not installed (apt-get install radicale)")
	}
	dir := t.TempDir()
	s := &Server{User: "mario", Password: "dav-" + rand.Text()[:16], t: t}
	certPEM, keyPEM := selfSigned(t)
	s.CAFile = filepath.Join(dir, "cert.pem")
	write(t, s.CAFile, certPEM)
	write(t, filepath.Join(dir, "key.pem"), keyPEM)
	write(t, filepath.Join(dir, "users"), []byte(s.User+":"+s.Password+"\n"))
	s.Pool = x509.NewCertPool()
	s.Pool.AppendCertsFromPEM(certPEM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	write(t, filepath.Join(dir, "config"), []byte(fmt.Sprintf(`[server]
hosts = %s
ssl = True
certificate = %s
key = %s
[auth]
type = htpasswd
htpasswd_filename = %s
htpasswd_encryption = plain
[storage]
filesystem_folder = %s
[rights]
type = owner_only
[logging]
level = warning
`, addr, s.CAFile, filepath.Join(dir, "key.pem"), filepath.Join(dir, "users"), filepath.Join(dir, "collections"))))
	cmd := exec.Command(bin, "--config", filepath.Join(dir, "config"))
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("radicale: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	s.URL = "https://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: s.Pool})
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("radicale did not start: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.Pool}}}
}

// Do sends a request as the user and fails the test unless the answer has a 2xx status.
func (s *Server) Do(method, path, contentType, body string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.SetBasicAuth(s.User, s.Password)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
}

// MakeAddressBook creates an address book collection at path (such as /mario/book/).
func (s *Server) MakeAddressBook(path, name string) {
	s.t.Helper()
	s.Do("MKCOL", path, "application/xml", `<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>`+
		`<D:resourcetype><D:collection/><A:addressbook/></D:resourcetype><D:displayname>`+name+`</D:displayname></D:prop></D:set></D:mkcol>`)
}

// MakeCalendar creates a calendar collection at path, with a colour (#RRGGBB) when one is
// given.
func (s *Server) MakeCalendar(path, name, color string) {
	s.t.Helper()
	if color != "" {
		color = `<I:calendar-color xmlns:I="http://apple.com/ns/ical/">` + color + `</I:calendar-color>`
	}
	s.Do("MKCALENDAR", path, "application/xml", `<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>`+
		`<D:displayname>`+name+`</D:displayname>`+color+`</D:prop></D:set></C:mkcalendar>`)
}

func write(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and its key, in PEM.
func selfSigned(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
