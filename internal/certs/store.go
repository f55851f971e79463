package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Errors from loading a certificate and key, checked with errors.Is. A missing file is reported
// with fs.ErrNotExist.
var (
	ErrNotPEM        = errors.New("not a PEM file")
	ErrNoCertificate = errors.New("no CERTIFICATE block")
	ErrNoKey         = errors.New("no private key block")
	ErrEncryptedKey  = errors.New("the private key is encrypted; posta needs it unencrypted")
	ErrKeyMismatch   = errors.New("the private key does not match the certificate")
	ErrExpired       = errors.New("the certificate has expired")
)

// CheckInterval is how often, at most, a Store looks at its files for changes.
const CheckInterval = 10 * time.Second

// Store serves a certificate chain and key from PEM files. It checks the files' modification
// times at most once every CheckInterval, during a handshake, and loads them again when they
// changed; a pair that fails to load is logged and the previous certificate kept. A Store is
// safe for concurrent use.
type Store struct {
	certPath, keyPath string
	log               *slog.Logger
	now               func() time.Time

	cur atomic.Pointer[tls.Certificate] // never nil after NewStore; Leaf set

	// reload serialises loading; handshakes that find it taken skip the check.
	reload    sync.Mutex
	nextCheck time.Time
	seen      stamp // of the files at the last load attempt, successful or not
}

// stamp identifies a version of the two files.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
	certErr, keyErr   string // a stat error, such as a missing file
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the logger for reloads; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// NewStore loads and validates the certificate chain (PEM, server certificate first) and key
// (PEM: PKCS #8, PKCS #1 or SEC 1; RSA, ECDSA or Ed25519). The error names the file and wraps
// fs.ErrNotExist, ErrNotPEM, ErrNoCertificate, ErrNoKey, ErrEncryptedKey, ErrKeyMismatch or
// ErrExpired.
func NewStore(certPath, keyPath string, opts ...Option) (*Store, error) {
	s := &Store{certPath: certPath, keyPath: keyPath, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	if err := s.loadLocked(); err != nil {
		return nil, err
	}
	s.nextCheck = s.now().Add(CheckInterval)
	return s, nil
}

// Leaf returns the certificate being served, for reports such as its expiry.
func (s *Store) Leaf() *x509.Certificate { return s.cur.Load().Leaf }

// TLSConfig returns a new server configuration serving the store's certificate, TLS 1.2 at
// least. Callers may change the returned value.
func (s *Store) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.GetCertificate}
}

// GetCertificate returns the current certificate, first reloading the files if CheckInterval
// has passed since the last check and they changed. It is a tls.Config.GetCertificate.
func (s *Store) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.maybeReload()
	return s.cur.Load(), nil
}

// Reload loads the files now, whether or not they changed. On error the current certificate is
// kept.
func (s *Store) Reload() error {
	s.reload.Lock()
	defer s.reload.Unlock()
	s.nextCheck = s.now().Add(CheckInterval)
	return s.loadLocked()
}

func (s *Store) maybeReload() {
	if !s.reload.TryLock() {
		return // another handshake is checking; serve the current certificate
	}
	defer s.reload.Unlock()
	now := s.now()
	if now.Before(s.nextCheck) {
		return
	}
	s.nextCheck = now.Add(CheckInterval)
	if s.stat() == s.seen {
		return
	}
	if err := s.loadLocked(); err != nil {
		s.log.Warn("certs: reloading the certificate failed; still serving the previous one",
			"cert", s.certPath, "key", s.keyPath, "err", err)
		return
	}
	leaf := s.Leaf()
	s.log.Info("certs: certificate reloaded", "cert", s.certPath,
		"subject", leaf.Subject.CommonName, "not_after", leaf.NotAfter)
}

func (s *Store) stat() stamp {
	var st stamp
	if fi, err := os.Stat(s.certPath); err != nil {
		st.certErr = err.Error()
	} else {
		st.certMod, st.certSize = fi.ModTime(), fi.Size()
	}
	if fi, err := os.Stat(s.keyPath); err != nil {
		st.keyErr = err.Error()
	} else {
		st.keyMod, st.keySize = fi.ModTime(), fi.Size()
	}
	return st
}

// loadLocked loads the pair and publishes it. The files are stamped before they are read, so
// that a change during the read is seen at the next check. s.reload must be held.
func (s *Store) loadLocked() error {
	s.seen = s.stat()
	certPEM, err := os.ReadFile(s.certPath)
	if err != nil {
		return fmt.Errorf("certs: certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(s.keyPath)
	if err != nil {
		return fmt.Errorf("certs: key: %w", err)
	}
	cert, err := parsePair(certPEM, keyPEM, s.certPath, s.keyPath, s.now())
	if err != nil {
		return err
	}
	s.cur.Store(cert)
	return nil
}

// parsePair parses and checks a PEM certificate chain and key; the names are for errors.
func parsePair(certPEM, keyPEM []byte, certName, keyName string, now time.Time) (*tls.Certificate, error) {
	chain, err := parseChain(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: certificate %s: %w", certName, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: key %s: %w", keyName, err)
	}
	leaf := chain[0]
	if !publicKeyEqual(leaf.PublicKey, key.Public()) {
		for i, c := range chain[1:] {
			if publicKeyEqual(c.PublicKey, key.Public()) {
				return nil, fmt.Errorf("certs: %s matches certificate %d of %s, but the server certificate must come first: %w",
					keyName, i+2, certName, ErrKeyMismatch)
			}
		}
		return nil, fmt.Errorf("certs: key %s, certificate %s: %w", keyName, certName, ErrKeyMismatch)
	}
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("certs: certificate %s (%s): %w on %s", certName, leaf.Subject.CommonName,
			ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	tc := &tls.Certificate{PrivateKey: key, Leaf: leaf}
	for _, c := range chain {
		tc.Certificate = append(tc.Certificate, c.Raw)
	}
	return tc, nil
}

// parseChain returns the certificates of a PEM file in order. Blocks of other types (such as a
// key in a combined file) are skipped.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	var other []string
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			other = append(other, b.Type)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		chain = append(chain, c)
	}
	switch {
	case len(chain) > 0:
		return chain, nil
	case len(other) > 0:
		return nil, fmt.Errorf("%w (found %v)", ErrNoCertificate, other)
	}
	return nil, ErrNotPEM
}

// parseKey returns the first private key of a PEM file.
func parseKey(data []byte) (crypto.Signer, error) {
	var other []string
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, ErrEncryptedKey
		}
		var key any
		var err error
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		default:
			other = append(other, b.Type) // such as EC PARAMETERS or a CERTIFICATE
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, b.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("PEM block %d: unsupported key type %T", n, key)
	}
	if len(other) > 0 {
		return nil, fmt.Errorf("%w (found %v)", ErrNoKey, other)
	}
	return nil, ErrNotPEM
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
