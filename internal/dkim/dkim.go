// Package dkim owns the DKIM signing keys of hosted domains: an Ed25519 and an RSA-2048 key per
// domain (both sign; receivers use what they verify), the TXT records to publish, rotation
// (new keys published first as pending, then made active while the old ones retire), and
// signing outgoing messages with the active keys.
//
// It stores keys only; the cryptography is mailauth's, and which domains are hosted is the
// directory's (callers ask it before signing).
package dkim

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/mailauth"
)

// Key states.
const (
	Pending = "pending" // published in DNS, not signing yet
	Active  = "active"
	Retired = "retired" // kept for the record; no longer signing
)

// Record is a key as a DNS record to publish.
type Record struct {
	Selector  string `json:"selector"`
	Algorithm string `json:"algorithm"`
	State     string `json:"state"`
	Name      string `json:"name"`  // selector._domainkey.domain
	Value     string `json:"value"` // the TXT record value
	CreatedAt int64  `json:"created_at"`
}

// actionCreate is the audit action of the first keys Ensure makes for a domain.
const actionCreate = "domain.dkim.create"

// Auditor records a change of a hosted domain's keys in the audit log, inside the transaction
// that makes it, as the actor in ctx (directory.Service).
type Auditor interface {
	AuditDomainTx(ctx context.Context, tx *db.Tx, domain, action string, before, after any) error
}

// Store keeps the keys.
type Store struct {
	db    *db.DB
	audit Auditor
	now   func() time.Time
	mu    sync.Mutex // serialises key generation per node

	signersMu sync.Mutex
	signers   map[string]crypto.Signer // parsed private keys by their PEM text
}

// maxSigners bounds the parsed keys kept; past it they are parsed again as needed.
const maxSigners = 10000

// signer returns the parsed private key of pemKey, parsing it once: an RSA key takes a tenth
// of the time of a signature to parse.
func (s *Store) signer(pemKey string) (crypto.Signer, error) {
	s.signersMu.Lock()
	k, ok := s.signers[pemKey]
	s.signersMu.Unlock()
	if ok {
		return k, nil
	}
	k, err := mailauth.ParseDKIMKey([]byte(pemKey))
	if err != nil {
		return nil, err
	}
	s.signersMu.Lock()
	if s.signers == nil || len(s.signers) >= maxSigners {
		s.signers = map[string]crypto.Signer{}
	}
	s.signers[pemKey] = k
	s.signersMu.Unlock()
	return k, nil
}

// New returns the store. The keys Ensure makes (when a domain's records are first shown, or
// its first message is signed) are recorded through audit; nil records nothing, for tests of
// the store alone.
func New(d *db.DB, audit Auditor) *Store { return &Store{db: d, audit: audit, now: time.Now} }

func normalize(domain string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
}

// errKeysExist is generate's answer when the keys it would make exist already: made meanwhile
// by another writer (another node sharing the database).
var errKeysExist = errors.New("dkim: keys made meanwhile")

// generate creates one key pair of each algorithm for domain in the given state, unless the
// domain has a key matching the SQL condition unless (then errKeysExist). With an action, the
// keys (names, algorithms and state; never the private keys) are recorded in the audit log in
// the same transaction. The keys are made before the transaction, which only writes them: an
// RSA key takes a while, and SQLite has one writer. Two nodes writing at once are told apart
// there: the second sees the first's keys, or (PostgreSQL, both counting before either
// committed) chose the same selectors and breaks their uniqueness.
func (s *Store) generate(ctx context.Context, domain, state, action, unless string) error {
	type key struct{ alg, suffix, pem, record string }
	var keys []key
	for _, alg := range []struct {
		a      mailauth.DKIMAlgorithm
		name   string
		suffix string
	}{{mailauth.DKIMEd25519, "ed25519", "e"}, {mailauth.DKIMRSA, "rsa", "r"}} {
		k, err := mailauth.GenerateDKIMKey(alg.a)
		if err != nil {
			return err
		}
		pemKey, err := mailauth.MarshalDKIMKey(k)
		if err != nil {
			return err
		}
		rec, err := mailauth.DKIMRecord(k.Public())
		if err != nil {
			return err
		}
		keys = append(keys, key{alg.name, alg.suffix, string(pemKey), rec})
	}
	now := s.now()
	base := "posta" + now.UTC().Format("20060102")
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		// One statement, so one view of the table (PostgreSQL's read committed gives each
		// statement its own): the keys a concurrent writer committed are seen by both counts
		// or by neither, and then it chose the same selectors.
		var existing, today int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM dkim_keys WHERE domain = ? AND `+unless+`),
			(SELECT COUNT(*) FROM dkim_keys WHERE domain = ? AND selector LIKE ?)`, domain, domain, base+"%").Scan(&existing, &today); err != nil {
			return err
		}
		if existing > 0 {
			return errKeysExist
		}
		sel := base
		if today > 0 {
			sel += fmt.Sprintf("n%d", today/2+1) // a second rotation the same day
		}
		var made []string
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO dkim_keys (domain, selector, algorithm, private_key, record, state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				domain, sel+k.suffix, k.alg, k.pem, k.record, state, now.UnixMilli()); err != nil {
				return err
			}
			made = append(made, sel+k.suffix+"._domainkey."+domain+" "+k.alg+" "+state)
		}
		if action == "" || s.audit == nil {
			return nil
		}
		return s.audit.AuditDomainTx(ctx, tx, domain, action, nil, map[string]any{"keys": made})
	})
	if db.IsUniqueViolation(err) {
		return errKeysExist
	}
	return err
}

// Ensure gives a domain its first keys (active) unless it has some, and records them in the
// audit log as made by the actor in ctx (the system when there is none).
func (s *Store) Ensure(ctx context.Context, domain string) error {
	domain = normalize(domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dkim_keys WHERE domain = ? AND state <> 'retired'`, domain).Scan(&n); err != nil {
		return fmt.Errorf("dkim: %w", err)
	}
	if n > 0 {
		return nil
	}
	switch err := s.generate(ctx, domain, Active, actionCreate, `state <> 'retired'`); {
	case errors.Is(err, errKeysExist):
		return nil
	case err != nil:
		return fmt.Errorf("dkim: generate keys for %s: %w", domain, err)
	}
	return nil
}

// Records lists a domain's keys, newest first.
func (s *Store) Records(ctx context.Context, domain string) ([]Record, error) {
	domain = normalize(domain)
	rows, err := s.db.QueryContext(ctx, `SELECT selector, algorithm, state, record, created_at FROM dkim_keys WHERE domain = ? ORDER BY id DESC`, domain)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	defer rows.Close()
	out := []Record{}
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.Selector, &r.Algorithm, &r.State, &r.Value, &r.CreatedAt); err != nil {
			return nil, err
		}
		r.Name = r.Selector + "._domainkey." + domain
		out = append(out, r)
	}
	return out, rows.Err()
}

// ErrPending is returned by Rotate when pending keys wait to be activated.
var ErrPending = errors.New("dkim: new keys are already pending: publish them, then activate")

// Rotate adds pending keys under new selectors: publish their records, wait for DNS caches,
// then Activate. The caller records the rotation in the audit log (posta domain dkim).
func (s *Store) Rotate(ctx context.Context, domain string) error {
	domain = normalize(domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dkim_keys WHERE domain = ? AND state = 'pending'`, domain).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrPending
	}
	switch err := s.generate(ctx, domain, Pending, "", `state = 'pending'`); {
	case errors.Is(err, errKeysExist):
		return ErrPending
	case err != nil:
		return fmt.Errorf("dkim: generate keys for %s: %w", domain, err)
	}
	return nil
}

// ErrNothingPending is returned by Activate without pending keys.
var ErrNothingPending = errors.New("dkim: no pending keys to activate: rotate first")

// Activate makes the pending keys sign and retires the active ones.
func (s *Store) Activate(ctx context.Context, domain string) error {
	domain = normalize(domain)
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dkim_keys WHERE domain = ? AND state = 'pending'`, domain).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNothingPending
		}
		if _, err := tx.ExecContext(ctx, `UPDATE dkim_keys SET state = 'retired' WHERE domain = ? AND state = 'active'`, domain); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE dkim_keys SET state = 'active' WHERE domain = ? AND state = 'pending'`, domain)
		return err
	})
}

// Sign returns the DKIM-Signature fields for a message of domain, one per active key (none
// yet: they are made first).
func (s *Store) Sign(ctx context.Context, domain string, msg []byte) ([]byte, error) {
	domain = normalize(domain)
	if err := s.Ensure(ctx, domain); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT selector, private_key FROM dkim_keys WHERE domain = ? AND state = 'active' ORDER BY algorithm`, domain)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	var keys []mailauth.DKIMKey
	for rows.Next() {
		var sel, pemKey string
		if err := rows.Scan(&sel, &pemKey); err != nil {
			rows.Close()
			return nil, err
		}
		signer, err := s.signer(pemKey)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("dkim: key %s of %s: %w", sel, domain, err)
		}
		keys = append(keys, mailauth.DKIMKey{Domain: domain, Selector: sel, Signer: signer})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return mailauth.SignDKIM(strings.NewReader(string(msg)), keys...)
}
