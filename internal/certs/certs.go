// Package certs owns posta's TLS certificates: a self-signed certificate generated for trials,
// and certificate files loaded, validated and reloaded when they change on disk (so a renewal by
// an external tool needs no restart). Automatic certificates (ACME) will live here too.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// GenerateSelfSigned writes a new self-signed ECDSA P-256 certificate for hosts (DNS names or
// IP addresses; localhost, 127.0.0.1 and ::1 are always included) and its key.
func GenerateSelfSigned(certPath, keyPath string, hosts []string, validFor time.Duration) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	cn := "localhost"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"posta self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	seen := map[string]bool{}
	for _, h := range append(hosts, "localhost", "127.0.0.1", "::1") {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	for _, p := range []string{certPath, keyPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// EnsureSelfSigned generates a self-signed certificate, valid for ten years, unless both files
// already exist.
func EnsureSelfSigned(certPath, keyPath string, hosts []string) (created bool, err error) {
	_, errC := os.Stat(certPath)
	_, errK := os.Stat(keyPath)
	if errC == nil && errK == nil {
		return false, nil
	}
	return true, GenerateSelfSigned(certPath, keyPath, hosts, 10*365*24*time.Hour)
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// Store serves a certificate from files, reloading it when the files change.
type Store struct {
	certPath, keyPath string
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	leaf      *x509.Certificate
	modTime   time.Time
	lastCheck time.Time
}

// NewStore loads and validates the certificate and key.
func NewStore(certPath, keyPath string) (*Store, error) {
	s := &Store{certPath: certPath, keyPath: keyPath, log: slog.Default()}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	ci, err := os.Stat(s.certPath)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", s.certPath, err)
	}
	certPEM, err := os.ReadFile(s.certPath)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", s.certPath, err)
	}
	keyPEM, err := os.ReadFile(s.keyPath)
	if err != nil {
		return fmt.Errorf("key %s: %w", s.keyPath, err)
	}
	if b, _ := pem.Decode(certPEM); b == nil {
		return fmt.Errorf("certificate %s: not a PEM file", s.certPath)
	}
	if b, _ := pem.Decode(keyPEM); b == nil {
		return fmt.Errorf("key %s: not a PEM file", s.keyPath)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("certificate %s and key %s: %w", s.certPath, s.keyPath, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("certificate %s: %w", s.certPath, err)
	}
	if time.Now().After(leaf.NotAfter) {
		return fmt.Errorf("certificate %s expired on %s", s.certPath, leaf.NotAfter.Format(time.DateOnly))
	}
	pair.Leaf = leaf
	s.mu.Lock()
	s.cert, s.leaf, s.modTime = &pair, leaf, ci.ModTime()
	s.mu.Unlock()
	return nil
}

// Leaf returns the current certificate.
func (s *Store) Leaf() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaf
}

func (s *Store) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	check := time.Since(s.lastCheck) > 10*time.Second
	if check {
		s.lastCheck = time.Now()
	}
	mod := s.modTime
	s.mu.Unlock()
	if check {
		if fi, err := os.Stat(s.certPath); err == nil && !fi.ModTime().Equal(mod) {
			if err := s.load(); err != nil {
				s.log.Warn("certs: reload failed, keeping the current certificate", "err", err)
			} else {
				s.log.Info("certs: certificate reloaded", "file", s.certPath)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cert == nil {
		return nil, errors.New("certs: no certificate")
	}
	return s.cert, nil
}

// TLSConfig returns a server configuration using the store's certificate.
func (s *Store) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.getCertificate}
}
