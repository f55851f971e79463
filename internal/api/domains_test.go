package api_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/api"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/dkim"
)

// mxOnly answers as if rossi.it had published only its MX record.
type mxOnly struct{}

var errNX = &net.DNSError{Err: "no such host", IsNotFound: true}

func (mxOnly) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if name == "rossi.it" {
		return []*net.MX{{Host: "mail.provider.test.", Pref: 10}}, nil
	}
	return nil, errNX
}
func (mxOnly) LookupTXT(context.Context, string) ([]string, error) { return nil, errNX }
func (mxOnly) LookupCNAME(context.Context, string) (string, error) { return "", errNX }
func (mxOnly) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, errNX
}

// TestDomainRecords: a domain's records include its DKIM keys (Ed25519 and RSA), and with
// ?check=1 say which are live.
func TestDomainRecords(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		base := setup(t, d)
		f := base.with(d, api.Options{DKIM: dkim.New(d, base.dir), Resolver: mxOnly{}})
		s := f.login("admin@rossi.it")
		for _, check := range []bool{false, true} {
			path := "/api/v1/domains/rossi.it"
			if check {
				path += "?check=1"
			}
			st, body := s.do("GET", path, "")
			if st != 200 {
				t.Fatalf("GET %s: %d %s", path, st, body)
			}
			var info struct {
				Records []struct {
					Purpose, Type, Name, Value, Live string
					Pending                          bool
				} `json:"dns_records"`
			}
			if err := json.Unmarshal([]byte(body), &info); err != nil {
				t.Fatal(err)
			}
			algs := map[string]bool{}
			for _, r := range info.Records {
				if r.Purpose == "dkim" {
					if r.Pending || !strings.HasSuffix(r.Name, "._domainkey.rossi.it") || !strings.HasPrefix(r.Value, "v=DKIM1;") {
						t.Errorf("dkim record %+v", r)
					}
					for _, k := range []string{"k=ed25519", "k=rsa"} {
						if strings.Contains(r.Value, k) {
							algs[k] = true
						}
					}
				}
				want := ""
				if check {
					want = "missing"
					if r.Purpose == "mx" {
						want = "live"
					}
				}
				if r.Live != want {
					t.Errorf("check=%v: %s %s live %q, want %q", check, r.Purpose, r.Name, r.Live, want)
				}
			}
			if len(algs) != 2 {
				t.Errorf("dkim keys %v, want ed25519 and rsa", algs)
			}
		}
	})
}

// TestDomainRecordsAuditDKIMKeys: the DKIM keys made when a domain's records are first shown
// are in the audit log, under the domain's tenant, as made by the administrator who asked,
// with their names and never their private keys; showing the records again makes nothing and
// records nothing, and another tenant's administrator does not see the entry.
func TestDomainRecordsAuditDKIMKeys(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		base := setup(t, d)
		f := base.with(d, api.Options{DKIM: dkim.New(d, base.dir), Resolver: mxOnly{}})
		sys := directory.WithActor(context.Background(), directory.SystemActor("test"))
		rossi, _ := f.dir.GetTenant(sys, "Rossi Srl")
		bianchi, _ := f.dir.GetTenant(sys, "Bianchi SpA")
		boss, admin, dom, other := f.login("boss@provider.test"), f.login("admin@rossi.it"), f.login("dom@rossi.it"), f.login("admin@bianchi.it")
		created := func() []directory.AuditEntry {
			all, err := f.dir.ListAudit(sys, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var out []directory.AuditEntry
			for _, e := range all {
				if e.Action == "domain.dkim.create" {
					out = append(out, e)
				}
			}
			return out
		}
		for _, s := range []struct {
			name   string
			who    *session
			domain string
			status int
			actor  string // "": no new entry
			tenant int64
		}{
			{"first view by the tenant's administrator", admin, "rossi.it", 200, "admin@rossi.it", rossi.ID},
			{"second view", admin, "rossi.it", 200, "", 0},
			{"view by the domain's administrator", dom, "rossi.it", 200, "", 0},
			{"another tenant's domain", other, "verdi.it", 404, "", 0},
			{"a domain outside the domain administrator's", dom, "verdi.it", 404, "", 0},
			{"first view by the provider", boss, "bianchi.it", 200, "boss@provider.test", bianchi.ID},
			{"first view of the tenant's second domain", admin, "verdi.it", 200, "admin@rossi.it", rossi.ID},
		} {
			before := len(created())
			if st, body := s.who.do("GET", "/api/v1/domains/"+s.domain, ""); st != s.status {
				t.Fatalf("%s: GET %s: %d %s", s.name, s.domain, st, body)
			}
			got := created()
			if s.actor == "" {
				if len(got) != before {
					t.Errorf("%s: %d new entries, want none: %+v", s.name, len(got)-before, got[0])
				}
				continue
			}
			if len(got) != before+1 {
				t.Fatalf("%s: %d new entries, want 1", s.name, len(got)-before)
			}
			e := got[0]
			if e.Target != s.domain || e.Actor != s.actor || e.TenantID != s.tenant || e.Before != "" || !strings.HasPrefix(e.Remote, "127.0.0.1:") {
				t.Errorf("%s: entry %+v", s.name, e)
			}
			if strings.Count(e.After, "._domainkey."+s.domain) != 2 || !strings.Contains(e.After, " ed25519 active") || !strings.Contains(e.After, " rsa active") {
				t.Errorf("%s: after %s, want both keys named", s.name, e.After)
			}
			if strings.Contains(e.After, "PRIVATE") || strings.Contains(e.After, "p=") {
				t.Errorf("%s: key material in the audit log: %s", s.name, e.After)
			}
		}
		// Each tenant's administrator finds the keys of its domains, and nothing of the other's.
		for _, s := range []struct {
			who    *session
			tenant int64
			want   string
		}{
			{admin, rossi.ID, "rossi.it"},
			{other, bianchi.ID, "bianchi.it"},
		} {
			st, body := s.who.do("GET", "/api/v1/audit?limit=1000", "")
			var es []directory.AuditEntry
			if err := json.Unmarshal([]byte(body), &es); st != 200 || err != nil {
				t.Fatalf("audit: %d %v %s", st, err, body)
			}
			found := false
			for _, e := range es {
				if e.TenantID != s.tenant {
					t.Errorf("the administrator of tenant %d sees %+v", s.tenant, e)
				}
				found = found || e.Action == "domain.dkim.create" && e.Target == s.want
			}
			if !found {
				t.Errorf("the administrator of tenant %d does not find the keys of %s", s.tenant, s.want)
			}
		}
	})
}
