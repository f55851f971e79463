package dkim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/dkim"
	"github.com/postamail/posta/internal/mailauth"
	"github.com/postamail/posta/internal/resolver"
)

// keyDNS publishes the store's records as TXT, as an administrator would.
type keyDNS map[string]string

func (k keyDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if v, ok := k[name]; ok {
		return []string{v}, nil
	}
	return nil, resolver.ErrNotFound
}
func (keyDNS) LookupMX(context.Context, string) ([]string, error) { return nil, resolver.ErrNotFound }
func (keyDNS) LookupA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}
func (keyDNS) LookupAAAA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}
func (keyDNS) LookupPTR(context.Context, netip.Addr) ([]string, error) {
	return nil, resolver.ErrNotFound
}

func TestKeysSignAndRotate(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := dkim.New(d, nil)
		msg := []byte("From: a@rossi.it\r\nTo: b@example.org\r\nSubject: hi\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n")
		sig, err := s.Sign(ctx, "Rossi.IT", msg)
		if err != nil || bytes.Count(sig, []byte("DKIM-Signature:")) != 2 {
			t.Fatalf("sign: %q %v", sig, err)
		}
		recs, err := s.Records(ctx, "rossi.it")
		if err != nil || len(recs) != 2 || recs[0].State != dkim.Active {
			t.Fatalf("records: %+v %v", recs, err)
		}
		dns := keyDNS{}
		for _, r := range recs {
			dns[r.Name] = r.Value
		}
		verify := func(sig []byte) []mailauth.DKIMResult {
			res, err := mailauth.VerifyDKIM(ctx, dns, bytes.NewReader(append(sig, msg...)))
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		for _, r := range verify(sig) {
			if r.Result != "pass" {
				t.Fatalf("verification: %+v", r)
			}
		}
		// Rotate: new keys pending, the old ones still sign until activation.
		if err := s.Rotate(ctx, "rossi.it"); err != nil {
			t.Fatal(err)
		}
		if err := s.Rotate(ctx, "rossi.it"); !errors.Is(err, dkim.ErrPending) {
			t.Fatalf("second rotation: %v", err)
		}
		recs, _ = s.Records(ctx, "rossi.it")
		if len(recs) != 4 || recs[0].State != dkim.Pending || recs[3].State != dkim.Active {
			t.Fatalf("after rotate: %+v", recs)
		}
		for _, r := range recs[:2] {
			dns[r.Name] = r.Value // published first
		}
		if err := s.Activate(ctx, "rossi.it"); err != nil {
			t.Fatal(err)
		}
		sig2, _ := s.Sign(ctx, "rossi.it", msg)
		if bytes.Equal(sig, sig2) || !strings.Contains(string(sig2), "s="+recs[0].Selector) && !strings.Contains(string(sig2), "s="+recs[1].Selector) {
			t.Fatalf("not signed with the new keys: %s", sig2)
		}
		for _, r := range verify(sig2) {
			if r.Result != "pass" {
				t.Fatalf("verification with the new keys: %+v", r)
			}
		}
		if err := s.Activate(ctx, "rossi.it"); !errors.Is(err, dkim.ErrNothingPending) {
			t.Fatalf("activate without pending keys: %v", err)
		}
	})
}

// auditLog records the changes the store reports, as the directory would in the audit log.
type auditLog struct {
	entries []string
	fail    error
}

func (l *auditLog) AuditDomainTx(ctx context.Context, tx *db.Tx, domain, action string, before, after any) error {
	if l.fail != nil {
		return l.fail
	}
	// The entry is written in the transaction that makes the keys: they are visible in it.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dkim_keys WHERE domain = ?`, domain).Scan(&n); err != nil {
		return err
	}
	l.entries = append(l.entries, fmt.Sprintf("%s %s before=%v after=%v keys=%d", action, domain, before, after, n))
	return nil
}

// TestKeysMadeAreAudited: the first keys of a domain, whether made by Ensure (records shown)
// or by Sign (first message), are reported once to the auditor inside the transaction that
// makes them, named by selector, algorithm and state and without the private key; a failure to
// record them makes nothing. Rotation is recorded by its caller, not here.
func TestKeysMadeAreAudited(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		msg := []byte("From: a@verdi.it\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n")
		for _, tt := range []struct {
			name string
			do   func(s *dkim.Store, domain string) error
			want int // entries after doing it twice
		}{
			{"ensure", func(s *dkim.Store, domain string) error { return s.Ensure(ctx, domain) }, 1},
			{"sign", func(s *dkim.Store, domain string) error { _, err := s.Sign(ctx, domain, msg); return err }, 1},
			{"rotate after ensure", func(s *dkim.Store, domain string) error {
				if err := s.Ensure(ctx, domain); err != nil {
					return err
				}
				err := s.Rotate(ctx, domain)
				if errors.Is(err, dkim.ErrPending) {
					err = s.Activate(ctx, domain)
				}
				return err
			}, 1},
		} {
			t.Run(tt.name, func(t *testing.T) {
				log := &auditLog{}
				s := dkim.New(d, log)
				domain := strings.ReplaceAll(tt.name, " ", "-") + ".test"
				for range 2 {
					if err := tt.do(s, "  "+strings.ToUpper(domain)+". "); err != nil {
						t.Fatal(err)
					}
				}
				if len(log.entries) != tt.want {
					t.Fatalf("entries %q, want %d", log.entries, tt.want)
				}
				want := fmt.Sprintf(`^domain\.dkim\.create %s before=<nil> after=map\[keys:\[posta\d{8}e\._domainkey\.%[1]s ed25519 active posta\d{8}r\._domainkey\.%[1]s rsa active\]\] keys=2$`, regexp.QuoteMeta(domain))
				if !regexp.MustCompile(want).MatchString(log.entries[0]) {
					t.Errorf("entry %q, want %s", log.entries[0], want)
				}
			})
		}
		// An entry that cannot be written leaves the domain without keys.
		s := dkim.New(d, &auditLog{fail: errors.New("audit log unavailable")})
		if err := s.Ensure(ctx, "fail.test"); err == nil || !strings.Contains(err.Error(), "audit log unavailable") {
			t.Fatalf("ensure with a failing audit log: %v", err)
		}
		if recs, err := s.Records(ctx, "fail.test"); err != nil || len(recs) != 0 {
			t.Fatalf("keys made without an audit entry: %+v %v", recs, err)
		}
	})
}

// TestKeysMadeOnceByManyNodes: nodes sharing the database (a Store each) that make a domain's
// first keys at once, or rotate them at once, make one set: the others see it and sign with it
// (or are told keys are pending).
func TestKeysMadeOnceByManyNodes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		nodes := []*dkim.Store{dkim.New(d, nil), dkim.New(d, nil), dkim.New(d, nil), dkim.New(d, nil)}
		count := func(state string) int {
			t.Helper()
			recs, err := nodes[0].Records(ctx, "bianchi.it")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range recs {
				if r.State == state {
					n++
				}
			}
			return n
		}
		all := func(f func(s *dkim.Store) error) []error {
			errs := make([]error, len(nodes))
			done := make(chan struct{})
			for i, s := range nodes {
				go func() {
					defer func() { done <- struct{}{} }()
					errs[i] = f(s)
				}()
			}
			for range nodes {
				<-done
			}
			return errs
		}
		for i, err := range all(func(s *dkim.Store) error { return s.Ensure(ctx, "bianchi.it") }) {
			if err != nil {
				t.Errorf("node %d: Ensure: %v", i, err)
			}
		}
		if n := count(dkim.Active); n != 2 {
			t.Fatalf("%d active keys after Ensure on %d nodes at once, want 2", n, len(nodes))
		}
		rotated := 0
		for i, err := range all(func(s *dkim.Store) error { return s.Rotate(ctx, "bianchi.it") }) {
			switch {
			case err == nil:
				rotated++
			case !errors.Is(err, dkim.ErrPending):
				t.Errorf("node %d: Rotate: %v", i, err)
			}
		}
		if rotated != 1 || count(dkim.Pending) != 2 {
			t.Fatalf("%d rotations made %d pending keys, want 1 making 2", rotated, count(dkim.Pending))
		}
	})
}
