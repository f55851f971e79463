package outbound

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/postamail/posta/internal/resolver"
)

// TLSA usages, selectors and matching types of RFC 6698 that SMTP uses (RFC 7672 §3.1).
const (
	usageDANETA = 2
	usageDANEEE = 3
)

// usableTLSA keeps the records RFC 7672 lets SMTP use: usages DANE-TA(2) and DANE-EE(3),
// selectors Cert(0) and SPKI(1), matching types Full(0), SHA2-256(1) and SHA2-512(2), with
// data of the right length. An empty result means DANE does not apply (RFC 7672 §2.2).
func usableTLSA(rrs []resolver.TLSA) []resolver.TLSA {
	var out []resolver.TLSA
	for _, r := range rrs {
		if r.Usage != usageDANETA && r.Usage != usageDANEEE || r.Selector > 1 {
			continue
		}
		switch {
		case r.MatchingType == 0 && len(r.Data) > 0,
			r.MatchingType == 1 && len(r.Data) == sha256.Size,
			r.MatchingType == 2 && len(r.Data) == sha512.Size:
			out = append(out, r)
		}
	}
	return out
}

// tlsaMatches reports whether a certificate matches one record's selector and data.
func tlsaMatches(r resolver.TLSA, c *x509.Certificate) bool {
	data := c.Raw
	if r.Selector == 1 {
		data = c.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case 0:
		return bytes.Equal(data, r.Data)
	case 1:
		sum := sha256.Sum256(data)
		return bytes.Equal(sum[:], r.Data)
	case 2:
		sum := sha512.Sum512(data)
		return bytes.Equal(sum[:], r.Data)
	}
	return false
}

// verifyDANE checks the server's chain against the usable TLSA records of host (RFC 7672
// §3): a DANE-EE record must match the end-entity certificate (names and dates are not
// checked, §3.1.1); a DANE-TA record must match a certificate of the chain the server sent,
// which then must issue the end-entity certificate for the host name (§3.1.2). It returns the
// record that matched, as "DANE-EE 3 1 1" and the like.
func verifyDANE(rrs []resolver.TLSA, chain []*x509.Certificate, host string, now time.Time) (string, error) {
	if len(chain) == 0 {
		return "", errors.New("no certificate presented")
	}
	leaf := chain[0]
	for _, r := range rrs {
		if r.Usage == usageDANEEE && tlsaMatches(r, leaf) {
			return fmt.Sprintf("DANE-EE %d %d %d", r.Usage, r.Selector, r.MatchingType), nil
		}
	}
	var taErr error
	for _, r := range rrs {
		if r.Usage != usageDANETA {
			continue
		}
		for _, ta := range chain[1:] {
			if !tlsaMatches(r, ta) {
				continue
			}
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(ta)
			for _, c := range chain[1:] {
				if c != ta {
					inter.AddCert(c)
				}
			}
			_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err == nil {
				return fmt.Sprintf("DANE-TA %d %d %d", r.Usage, r.Selector, r.MatchingType), nil
			}
			taErr = err
		}
	}
	if taErr != nil {
		return "", fmt.Errorf("certificate of %s does not chain to its DANE-TA record: %w", host, taErr)
	}
	return "", fmt.Errorf("no TLSA record of %s matches its certificate", host)
}
