package mailauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMStatus is the result of verifying one signature, spelled as in
// Authentication-Results (RFC 8601 §2.7.1).
type DKIMStatus string

// DKIM results.
const (
	DKIMNone      DKIMStatus = "none" // the message is not signed
	DKIMPass      DKIMStatus = "pass"
	DKIMFail      DKIMStatus = "fail"      // the signature or body hash did not verify
	DKIMNeutral   DKIMStatus = "neutral"   // not checked (over the signature limit)
	DKIMTempError DKIMStatus = "temperror" // the key could not be fetched now
	DKIMPermError DKIMStatus = "permerror" // malformed signature, missing or bad key
)

// DKIMResult is the verification of one DKIM-Signature field.
type DKIMResult struct {
	Result     DKIMStatus
	Domain     string // d=
	Identifier string // i=
	Selector   string // s=
	Algorithm  string // a=
	Err        error
}

// DefaultDKIMMaxSignatures is how many signatures VerifyDKIM checks by
// default; later ones are reported neutral.
const DefaultDKIMMaxSignatures = 5

// maxHeaderBytes bounds the header block VerifyDKIM reads ahead.
const maxHeaderBytes = 1 << 20

// VerifyDKIM verifies every DKIM signature of the message read from msg (up
// to DefaultDKIMMaxSignatures), fetching keys through r. It returns one
// result per DKIM-Signature field, in header order, and an error only when
// the message cannot be read.
func VerifyDKIM(ctx context.Context, r Resolver, msg io.Reader) ([]DKIMResult, error) {
	br := bufio.NewReader(msg)
	header, err := readHeaderBlock(br)
	if err != nil {
		return nil, fmt.Errorf("dkim: reading header: %w", err)
	}
	sigs := signatureTags(header)
	if len(sigs) == 0 {
		_, err := io.Copy(io.Discard, br)
		return nil, err
	}
	verifs, err := dkim.VerifyWithOptions(io.MultiReader(bytes.NewReader(header), br), &dkim.VerifyOptions{
		LookupTXT:        txtLookup(ctx, r),
		MaxVerifications: DefaultDKIMMaxSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		if verifs == nil {
			return nil, fmt.Errorf("dkim: %w", err)
		}
	}
	out := make([]DKIMResult, len(sigs))
	for i, tags := range sigs {
		res := DKIMResult{
			Result:     DKIMNeutral,
			Domain:     tags["d"],
			Identifier: tags["i"],
			Selector:   tags["s"],
			Algorithm:  tags["a"],
		}
		if i < len(verifs) && verifs[i] != nil {
			v := verifs[i]
			res.Domain, res.Identifier = v.Domain, v.Identifier
			switch {
			case v.Err == nil:
				res.Result = DKIMPass
			case dkim.IsTempFail(v.Err):
				res.Result, res.Err = DKIMTempError, v.Err
			case dkim.IsPermFail(v.Err):
				res.Result, res.Err = DKIMPermError, v.Err
			default:
				res.Result, res.Err = DKIMFail, v.Err
			}
		} else if i >= DefaultDKIMMaxSignatures {
			res.Err = errors.New("dkim: signature not checked: too many signatures")
		} else {
			res.Result, res.Err = DKIMPermError, err
		}
		if res.Domain == "" {
			res.Domain = tags["d"]
		}
		out[i] = res
	}
	return out, nil
}

// readHeaderBlock reads the header up to and including the empty line that
// ends it (or to the end of the input).
func readHeaderBlock(br *bufio.Reader) ([]byte, error) {
	var header []byte
	for {
		line, err := br.ReadSlice('\n')
		header = append(header, line...)
		if len(header) > maxHeaderBytes {
			return nil, errors.New("header too long")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return header, nil
		}
		if err != nil {
			return nil, err
		}
		if len(line) > 0 && (string(line) == "\r\n" || string(line) == "\n") {
			return header, nil
		}
	}
}

// signatureTags returns the tags of each DKIM-Signature field of header, in
// order.
func signatureTags(header []byte) []map[string]string {
	var out []map[string]string
	for _, f := range headerFields(header) {
		if !strings.EqualFold(f.name, "DKIM-Signature") {
			continue
		}
		tags := make(map[string]string)
		for _, spec := range strings.Split(f.value, ";") {
			k, v, ok := strings.Cut(spec, "=")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			if _, dup := tags[k]; !dup {
				tags[k] = strings.Join(strings.Fields(v), "")
			}
		}
		out = append(out, tags)
	}
	return out
}

// DKIMKey is a signing key with the selector it is published under.
type DKIMKey struct {
	Domain   string
	Selector string
	// Signer is an ed25519.PrivateKey or an *rsa.PrivateKey.
	Signer crypto.Signer
	// Identifier is the optional i= tag (the AUID, e.g. "@example.com").
	Identifier string
	// HeaderKeys are the fields signed (default DefaultSignedHeaders).
	HeaderKeys []string
}

// DefaultSignedHeaders returns the fields signed by default (RFC 6376
// §5.4.1). From, Subject, Date, To and Cc are listed twice, so that adding
// another such field after signing breaks the signature (over-signing); a
// listed field the message lacks is signed as absent.
func DefaultSignedHeaders() []string {
	return []string{
		"From", "From", "Reply-To", "Subject", "Subject", "Date", "Date",
		"To", "To", "Cc", "Cc", "Message-ID", "In-Reply-To", "References",
		"MIME-Version", "Content-Type", "Content-Transfer-Encoding",
		"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
	}
}

// SignDKIM signs the message read from msg with each key (relaxed/relaxed
// canonicalization, SHA-256) and returns the DKIM-Signature fields to
// prepend to the message, in the order of keys, each ending in CRLF.
func SignDKIM(msg io.Reader, keys ...DKIMKey) ([]byte, error) {
	if len(keys) == 0 {
		return nil, errors.New("dkim: no signing key")
	}
	signers := make([]*dkim.Signer, 0, len(keys))
	writers := make([]io.Writer, 0, len(keys))
	closeAll := func() {
		for _, s := range signers {
			s.Close()
		}
	}
	for _, k := range keys {
		headerKeys := k.HeaderKeys
		if headerKeys == nil {
			headerKeys = DefaultSignedHeaders()
		}
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 k.Domain,
			Selector:               k.Selector,
			Identifier:             k.Identifier,
			Signer:                 k.Signer,
			Hash:                   crypto.SHA256,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             headerKeys,
		})
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("dkim: key %s._domainkey.%s: %w", k.Selector, k.Domain, err)
		}
		signers = append(signers, s)
		writers = append(writers, s)
	}
	if _, err := io.Copy(io.MultiWriter(writers...), msg); err != nil {
		closeAll()
		return nil, fmt.Errorf("dkim: %w", err)
	}
	var out []byte
	for i, s := range signers {
		if err := s.Close(); err != nil {
			for _, rest := range signers[i+1:] {
				rest.Close()
			}
			return nil, fmt.Errorf("dkim: signing with %s._domainkey.%s: %w", keys[i].Selector, keys[i].Domain, err)
		}
		out = append(out, s.Signature()...)
	}
	return out, nil
}

// DKIMAlgorithm is a DKIM key type.
type DKIMAlgorithm string

// Key types: Ed25519 (RFC 8463) and RSA (2048 bits here).
const (
	DKIMEd25519 DKIMAlgorithm = "ed25519"
	DKIMRSA     DKIMAlgorithm = "rsa"
)

// DKIMRSABits is the size of generated RSA keys.
const DKIMRSABits = 2048

// GenerateDKIMKey returns a new private key of the type.
func GenerateDKIMKey(alg DKIMAlgorithm) (crypto.Signer, error) {
	switch alg {
	case DKIMEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case DKIMRSA:
		return rsa.GenerateKey(rand.Reader, DKIMRSABits)
	}
	return nil, fmt.Errorf("dkim: unknown key type %q", alg)
}

// DKIMRecord returns the value of the TXT record that publishes pub at
// <selector>._domainkey.<domain>: "v=DKIM1; k=ed25519; p=<raw key>" or
// "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>", base64. An RSA-2048 value is
// longer than 255 octets: publish it as several strings (SplitTXT).
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("dkim: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
}

// SplitTXT splits a TXT record value into strings of at most 255 octets,
// as DNS requires; resolvers join them again.
func SplitTXT(value string) []string {
	var out []string
	for len(value) > 255 {
		out = append(out, value[:255])
		value = value[255:]
	}
	return append(out, value)
}

// MarshalDKIMKey encodes a private key as PKCS #8 PEM, for storage.
func MarshalDKIMKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseDKIMKey decodes a private key from PEM: PKCS #8 (Ed25519 or RSA) or
// PKCS #1 ("RSA PRIVATE KEY", as opendkim-genkey writes).
func ParseDKIMKey(pemData []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("dkim: no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("dkim: unexpected PEM block %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	switch key := key.(type) {
	case ed25519.PrivateKey:
		return key, nil
	case *rsa.PrivateKey:
		if key.N.BitLen() < 1024 {
			return nil, fmt.Errorf("dkim: RSA key of %d bits is too short", key.N.BitLen())
		}
		return key, nil
	}
	return nil, fmt.Errorf("dkim: unsupported private key type %T", key)
}
