package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// pair returns certificate and key paths in a new directory.
func pair(t testing.TB) (cert, key string) {
	dir := t.TempDir()
	return filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
}

// readChain parses every certificate in a PEM file.
func readChain(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := parseChain(data)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// caPool trusts only the last certificate of the file: the generated CA.
func caPool(t *testing.T, certPath string) *x509.CertPool {
	t.Helper()
	chain := readChain(t, certPath)
	pool := x509.NewCertPool()
	pool.AddCert(chain[len(chain)-1])
	return pool
}

func TestGenerateSelfSigned(t *testing.T) {
	cert, key := pair(t)
	hosts := []string{"Mail.Example.test", "192.0.2.7", "mail.example.test.", "localhost"}
	if err := GenerateSelfSigned(cert, key, hosts, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{key: 0o600, filepath.Dir(key): 0o700 | fs.ModeDir} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode(), want, err)
		}
	}
	chain := readChain(t, cert)
	if len(chain) != 2 {
		t.Fatalf("chain of %d certificates, want server and CA", len(chain))
	}
	leaf, ca := chain[0], chain[1]
	if leaf.IsCA || !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("leaf IsCA %v, CA IsCA %v usage %v", leaf.IsCA, ca.IsCA, ca.KeyUsage)
	}
	if !slices.Equal(leaf.DNSNames, []string{"mail.example.test", "localhost"}) {
		t.Errorf("DNS names %q", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"192.0.2.7", "127.0.0.1", "::1"}) {
		t.Errorf("IP addresses %q", ips)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("extended key usage %v", leaf.ExtKeyUsage)
	}
	if pk, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pk.Curve != elliptic.P256() {
		t.Errorf("public key %T", leaf.PublicKey)
	}
	if d := time.Until(leaf.NotAfter); d < 47*time.Hour || d > 48*time.Hour {
		t.Errorf("expires in %v, want 48h", d)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"mail.example.test", "localhost", "127.0.0.1", "::1", "192.0.2.7"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("verify as %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.test", Roots: roots}); err == nil {
		t.Error("verified for a name not in the certificate")
	}
}

func TestGenerateSelfSignedErrors(t *testing.T) {
	tests := []struct {
		name     string
		hosts    []string
		validFor time.Duration
		want     string
	}{
		{"zero validity", nil, 0, "not positive"},
		{"space", []string{"bad host"}, time.Hour, `"bad host"`},
		{"zone", []string{"fe80::1%eth0"}, time.Hour, "zone"},
		{"unicode", []string{"posta.città.it"}, time.Hour, "xn--"},
		{"empty label", []string{"a..b"}, time.Hour, "not a DNS name"},
	}
	for _, tt := range tests {
		cert, key := pair(t)
		err := GenerateSelfSigned(cert, key, tt.hosts, tt.validFor)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
		if _, err := os.Stat(cert); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: certificate written despite the error", tt.name)
		}
	}
	// Wildcards are DNS names too.
	cert, key := pair(t)
	if err := GenerateSelfSigned(cert, key, []string{"*.example.test"}, time.Hour); err != nil {
		t.Errorf("wildcard: %v", err)
	}
}

func TestEnsureSelfSigned(t *testing.T) {
	cert, key := pair(t)
	created, err := EnsureSelfSigned(cert, key, []string{"mail.example.test"})
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	leaf := readChain(t, cert)[0]
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < SelfSignedValidity || d > SelfSignedValidity+2*time.Hour {
		t.Errorf("validity %v", d)
	}
	before, _ := os.ReadFile(cert)
	if created, err := EnsureSelfSigned(cert, key, nil); err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	if after, _ := os.ReadFile(cert); !bytes.Equal(before, after) {
		t.Fatal("existing certificate replaced")
	}
	os.Remove(key)
	if created, err := EnsureSelfSigned(cert, key, nil); err != nil || !created {
		t.Fatalf("missing key: created %v, %v", created, err)
	}
	if _, err := NewStore(cert, key); err != nil {
		t.Fatalf("regenerated pair does not load: %v", err)
	}
	// A path that cannot be examined is an error, not a reason to generate.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if created, err := EnsureSelfSigned(filepath.Join(file, "cert.pem"), key, nil); err == nil || created {
		t.Fatalf("unexaminable path: created %v, %v", created, err)
	}
}

// selfSigned returns a PEM certificate for key, valid until notAfter.
func selfSigned(t *testing.T, key crypto.Signer, notAfter time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "mail.example.test"},
		DNSNames:     []string{"mail.example.test"},
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestNewStoreErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c1, k1 := filepath.Join(dir, "1", "c.pem"), filepath.Join(dir, "1", "k.pem")
	c2, k2 := filepath.Join(dir, "2", "c.pem"), filepath.Join(dir, "2", "k.pem")
	for _, p := range [][2]string{{c1, k1}, {c2, k2}} {
		if err := GenerateSelfSigned(p[0], p[1], []string{"mail.example.test"}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	certPEM, _ := os.ReadFile(c1)
	leafPEM, caPEM, _ := bytes.Cut(certPEM, []byte("-----END CERTIFICATE-----\n"))
	leafPEM = append(leafPEM, "-----END CERTIFICATE-----\n"...)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecKeyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})

	tests := []struct {
		name, cert, key string
		is              error
		want            string // in the message
	}{
		{"missing cert", filepath.Join(dir, "none.pem"), k1, fs.ErrNotExist, "none.pem"},
		{"missing key", c1, filepath.Join(dir, "none.key"), fs.ErrNotExist, "none.key"},
		{"cert not PEM", file("junk", []byte("hello")), k1, ErrNotPEM, "junk: not a PEM file"},
		{"key not PEM", c1, file("junk.key", []byte("hello")), ErrNotPEM, "junk.key: not a PEM file"},
		{"key in cert file", k1, k1, ErrNoCertificate, "[PRIVATE KEY]"},
		{"cert in key file", c1, c1, ErrNoKey, "[CERTIFICATE CERTIFICATE]"},
		{"bad DER", file("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})), k1, nil, "PEM block 1"},
		{"bad key DER", c1, file("bad.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})), nil, "PEM block 1 (EC PRIVATE KEY)"},
		{"mismatch", c1, k2, ErrKeyMismatch, "does not match"},
		{"CA first", file("reversed.pem", append(caPEM, leafPEM...)), k1, ErrKeyMismatch, "server certificate must come first"},
		{"expired", file("old.pem", selfSigned(t, ecKey, time.Now().Add(-time.Hour))), file("ec.key", ecKeyPEM), ErrExpired, "expired on"},
		{"encrypted", c1, file("enc.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}})), ErrEncryptedKey, "encrypted"},
		{"legacy encrypted", c1, file("enc1.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})), ErrEncryptedKey, "encrypted"},
	}
	for _, tt := range tests {
		_, err := NewStore(tt.cert, tt.key)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %v containing %q", tt.name, err, tt.is, tt.want)
		}
	}
}

func TestStoreKeyFormats(t *testing.T) {
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	future := time.Now().Add(time.Hour)
	tests := []struct {
		name      string
		cert, key []byte
	}{
		{"RSA PKCS #1", selfSigned(t, rsaKey, future),
			pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})},
		// openssl ecparam -genkey writes the parameters before the key.
		{"EC SEC 1 with parameters", selfSigned(t, ecKey, future),
			append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 5, 43, 129, 4, 0, 34}}),
				pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})...)},
	}
	for i, tt := range tests {
		c, k := filepath.Join(dir, tt.name+".pem"), filepath.Join(dir, tt.name+".key")
		os.WriteFile(c, tt.cert, 0o600)
		os.WriteFile(k, tt.key, 0o600)
		s, err := NewStore(c, k)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		// A combined file (certificate and key together) serves as both.
		both := filepath.Join(dir, string(rune('a'+i))+".pem")
		os.WriteFile(both, append(append([]byte{}, tt.cert...), tt.key...), 0o600)
		if _, err := NewStore(both, both); err != nil {
			t.Errorf("%s combined: %v", tt.name, err)
		}
		if s.Leaf().Subject.CommonName != "mail.example.test" {
			t.Errorf("%s: leaf %v", tt.name, s.Leaf().Subject)
		}
	}
}

// serveTLS accepts connections on a loopback listener and completes their handshakes.
func serveTLS(t *testing.T, network, addr string, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen(network, addr, cfg)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestHandshake(t *testing.T) {
	cert, key := pair(t)
	if err := GenerateSelfSigned(cert, key, []string{"mail.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	roots := caPool(t, cert)
	addr := serveTLS(t, "tcp", "127.0.0.1:0", s.TLSConfig())
	dial := func(cfg *tls.Config) (*tls.ConnectionState, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		st := c.ConnectionState()
		return &st, nil
	}
	for _, name := range []string{"mail.example.test", "localhost", ""} {
		st, err := dial(&tls.Config{RootCAs: roots, ServerName: name})
		if err != nil {
			t.Fatalf("handshake as %q: %v", name, err)
		}
		if len(st.PeerCertificates) != 2 || !st.PeerCertificates[0].Equal(s.Leaf()) {
			t.Errorf("server sent %d certificates", len(st.PeerCertificates))
		}
	}
	if _, err := dial(&tls.Config{RootCAs: roots, ServerName: "other.example.test"}); err == nil {
		t.Error("handshake verified a name not in the certificate")
	}
	if _, err := dial(&tls.Config{ServerName: "mail.example.test"}); err == nil {
		t.Error("handshake verified without trusting the CA")
	}
	if _, err := dial(&tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 accepted")
	}
	// The server certificate alone may be trusted too (what a client's exception does).
	leafOnly := x509.NewCertPool()
	leafOnly.AddCert(s.Leaf())
	if _, err := dial(&tls.Config{RootCAs: leafOnly, ServerName: "mail.example.test"}); err != nil {
		t.Errorf("trusting the server certificate: %v", err)
	}
	addr6 := serveTLS(t, "tcp6", "[::1]:0", s.TLSConfig())
	c, err := tls.Dial("tcp6", addr6, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("handshake over ::1: %v", err)
	}
	c.Close()
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func withClock(c *clock) Option { return func(s *Store) { s.now = c.now } }

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// touch moves the files' modification time forward, so that a rewrite within one file system
// timestamp tick is still seen as a change.
func touch(t *testing.T, d time.Duration, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mt := fi.ModTime().Add(d)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReload(t *testing.T) {
	cert, key := pair(t)
	if err := GenerateSelfSigned(cert, key, []string{"mail.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	var logs syncBuffer
	s, err := NewStore(cert, key, withClock(clk), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	serving := func() *big.Int {
		t.Helper()
		c, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "mail.example.test"})
		if err != nil || c == nil {
			t.Fatalf("GetCertificate: %v %v", c, err)
		}
		return c.Leaf.SerialNumber
	}
	first := serving()

	// Renewed files are served once CheckInterval has passed, not before.
	if err := GenerateSelfSigned(cert, key, []string{"mail.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	touch(t, time.Second, cert, key)
	renewed := readChain(t, cert)[0].SerialNumber
	clk.advance(CheckInterval / 2)
	if serving().Cmp(first) != 0 {
		t.Fatal("reloaded before CheckInterval passed")
	}
	clk.advance(CheckInterval)
	if serving().Cmp(renewed) != 0 || s.Leaf().SerialNumber.Cmp(renewed) != 0 {
		t.Fatal("renewed certificate not served")
	}
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("reload not logged: %s", logs.String())
	}

	// A bad rewrite is logged once and the certificate kept.
	os.WriteFile(cert, []byte("truncated"), 0o644)
	touch(t, 2*time.Second, cert)
	for range 3 {
		clk.advance(CheckInterval)
		if serving().Cmp(renewed) != 0 {
			t.Fatal("bad files replaced the certificate")
		}
	}
	if n := strings.Count(logs.String(), "reloading the certificate failed"); n != 1 {
		t.Errorf("failure logged %d times, want once: %s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "not a PEM file") {
		t.Errorf("failure log lacks the reason: %s", logs.String())
	}
	if err := s.Reload(); !errors.Is(err, ErrNotPEM) {
		t.Errorf("Reload: %v", err)
	}
	if s.Leaf().SerialNumber.Cmp(renewed) != 0 {
		t.Fatal("failed Reload replaced the certificate")
	}

	// Fixed files are picked up at the next check.
	if err := GenerateSelfSigned(cert, key, []string{"mail.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	touch(t, 3*time.Second, cert, key)
	fixed := readChain(t, cert)[0].SerialNumber
	clk.advance(CheckInterval)
	if serving().Cmp(fixed) != 0 {
		t.Fatal("fixed certificate not served")
	}
	if strings.Contains(logs.String(), "PRIVATE KEY-----") || strings.Contains(logs.String(), "BEGIN") {
		t.Error("key material in the log")
	}
}

func TestReloadConcurrent(t *testing.T) {
	cert, key := pair(t)
	if err := GenerateSelfSigned(cert, key, nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	s, err := NewStore(cert, key, withClock(clk), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				c, err := s.GetCertificate(nil)
				if err != nil || c.Leaf == nil || len(c.Certificate) != 2 {
					t.Errorf("GetCertificate: %v", err)
					return
				}
				clk.advance(CheckInterval / 10)
			}
		})
	}
	for i := range 5 {
		if err := GenerateSelfSigned(cert, key, nil, time.Hour); err != nil {
			t.Fatal(err)
		}
		touch(t, time.Duration(i+1)*time.Second, cert, key)
	}
	wg.Wait()
}

func FuzzParsePair(f *testing.F) {
	cert, key := pair(f)
	if err := GenerateSelfSigned(cert, key, []string{"mail.example.test"}, time.Hour); err != nil {
		f.Fatal(err)
	}
	certPEM, _ := os.ReadFile(cert)
	keyPEM, _ := os.ReadFile(key)
	f.Add(certPEM, keyPEM)
	f.Add(keyPEM, certPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"), []byte("junk"))
	now := time.Now()
	f.Fuzz(func(t *testing.T, c, k []byte) {
		tc, err := parsePair(c, k, "c", "k", now)
		if err != nil {
			return
		}
		if tc.Leaf == nil || len(tc.Certificate) == 0 || !publicKeyEqual(tc.Leaf.PublicKey, tc.PrivateKey.(crypto.Signer).Public()) {
			t.Fatalf("accepted an inconsistent pair: %+v", tc)
		}
	})
}
