// Package certs owns posta's TLS certificates: generating a self-signed pair for trials, and
// serving a certificate from PEM files, validated when loaded and reloaded when the files change
// on disk, so that a renewal by an external tool needs no restart.
//
// This package will also own automatic certificates (ACME, RFC 8555), with their cache in the
// database; callers depend only on Store's TLSConfig, GetCertificate and Leaf, which will not
// change when it does. It reads and writes only the certificate and key files it is given and
// must not touch the configuration file or the database schema of other packages.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/postamail/posta/internal/atomicfile"
)

// SelfSignedValidity is the validity of certificates made by EnsureSelfSigned: 825 days, the
// longest that Apple platforms accept for a TLS server certificate.
const SelfSignedValidity = 825 * 24 * time.Hour

// alwaysHosts are in every self-signed certificate, so that local clients can connect.
var alwaysHosts = []string{"localhost", "127.0.0.1", "::1"}

// GenerateSelfSigned writes a new certificate for hosts (DNS names or IP addresses; localhost,
// 127.0.0.1 and ::1 are always included), valid from now for validFor, and its ECDSA P-256
// private key. The certificate file holds the server certificate followed by the CA
// certificate that signed it: clients may trust that CA, whose key is discarded, or the server
// certificate itself. The server certificate is not a CA, as some clients require. Files are
// replaced atomically; missing directories are created with mode 0700; the key has mode 0600.
func GenerateSelfSigned(certPath, keyPath string, hosts []string, validFor time.Duration) error {
	if validFor <= 0 {
		return fmt.Errorf("certs: validity %v is not positive", validFor)
	}
	now := time.Now()
	return generate(certPath, keyPath, hosts, now.Add(-time.Hour), now.Add(validFor))
}

// generate is GenerateSelfSigned with an explicit validity window.
func generate(certPath, keyPath string, hosts []string, notBefore, notAfter time.Time) error {
	var dnsNames []string
	var ips []netip.Addr
	seen := map[string]bool{}
	for _, h := range append(append([]string(nil), hosts...), alwaysHosts...) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if seen[h] {
			continue
		}
		seen[h] = true
		if ip, err := netip.ParseAddr(h); err == nil {
			if ip.Zone() != "" {
				return fmt.Errorf("certs: host %q: an IP address in a certificate has no zone", h)
			}
			ips = append(ips, ip.Unmap())
			continue
		}
		if err := checkDNSName(h); err != nil {
			return fmt.Errorf("certs: host %q: %w", h, err)
		}
		dnsNames = append(dnsNames, h)
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("certs: generate key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("certs: generate key: %w", err)
	}
	name := dnsNames[0] // hosts come first; "localhost" at least
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"posta"}, CommonName: "posta self-signed CA for " + name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("certs: create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return fmt.Errorf("certs: parse CA certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"posta"}, CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ip.AsSlice())
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("certs: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("certs: encode key: %w", err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	for _, p := range []string{certPath, keyPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
	}
	// The key first: a Store reloading in between sees a mismatch, keeps its certificate and
	// retries when the certificate file changes.
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("certs: write key: %w", err)
	}
	if err := atomicfile.Write(certPath, chain, 0o644); err != nil {
		return fmt.Errorf("certs: write certificate: %w", err)
	}
	return nil
}

// randomSerial returns a positive 127-bit serial number; RFC 5280 section 4.1.2.2 allows up to
// 20 octets and CA/Browser Forum rules ask for 64 random bits at least.
func randomSerial() *big.Int {
	// rand.Int never fails: crypto/rand.Reader does not return errors since Go 1.24.
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}

// checkDNSName accepts host names (RFC 1123 section 2.1) and a leading "*." wildcard label
// (RFC 6125 section 6.4.3).
func checkDNSName(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(name) > 253 {
		return errors.New("not a DNS name")
	}
	for l := range strings.SplitSeq(name, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("not a DNS name")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("not a DNS name: contains %q (write internationalised names as xn--)", r)
			}
		}
	}
	return nil
}

// EnsureSelfSigned generates a self-signed certificate valid for SelfSignedValidity unless both
// files exist. It reports whether it generated one. An error other than "does not exist" from
// either file is returned, not papered over by a new certificate.
func EnsureSelfSigned(certPath, keyPath string, hosts []string) (created bool, err error) {
	missing := false
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			missing = true
		} else if err != nil {
			return false, fmt.Errorf("certs: %w", err)
		}
	}
	if !missing {
		return false, nil
	}
	if err := GenerateSelfSigned(certPath, keyPath, hosts, SelfSignedValidity); err != nil {
		return false, err
	}
	return true, nil
}
