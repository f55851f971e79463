package dkim_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
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
		s := dkim.New(d)
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
