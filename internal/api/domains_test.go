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
		f := base.with(d, api.Options{DKIM: dkim.New(d), Resolver: mxOnly{}})
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
