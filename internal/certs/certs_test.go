package certs

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedHandshakeAndReload(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	created, err := EnsureSelfSigned(cert, key, []string{"mail.example.test"})
	if err != nil || !created {
		t.Fatalf("ensure: %v %v", created, err)
	}
	if created, _ := EnsureSelfSigned(cert, key, nil); created {
		t.Fatal("regenerated an existing certificate")
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode())
	}
	s, err := NewStore(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(s.Leaf())
	for _, name := range []string{"mail.example.test", "localhost"} {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name})
		if err != nil {
			t.Fatalf("handshake as %s: %v", name, err)
		}
		c.Close()
	}
	old := s.Leaf().SerialNumber
	if err := GenerateSelfSigned(cert, key, []string{"mail.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	os.Chtimes(cert, future, future)
	s.mu.Lock()
	s.lastCheck = time.Time{}
	s.mu.Unlock()
	if _, err := s.getCertificate(nil); err != nil {
		t.Fatal(err)
	}
	if s.Leaf().SerialNumber.Cmp(old) == 0 {
		t.Fatal("certificate not reloaded after the file changed")
	}
}

func TestStoreErrors(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key")
	c2, k2 := filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key")
	GenerateSelfSigned(c1, k1, nil, time.Hour)
	GenerateSelfSigned(c2, k2, nil, time.Hour)
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello"), 0o600)
	tests := []struct {
		name, cert, key, want string
	}{
		{"missing", filepath.Join(dir, "none"), k1, "no such file"},
		{"not pem", junk, k1, "not a PEM"},
		{"mismatch", c1, k2, "private key does not match"},
	}
	for _, tt := range tests {
		_, err := NewStore(tt.cert, tt.key)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
