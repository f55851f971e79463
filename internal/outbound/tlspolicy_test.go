package outbound_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/certs/testca"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mtasts"
	"github.com/postamail/posta/internal/outbound"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/resolver"
	"github.com/postamail/posta/internal/resolver/dnstest"
)

func portOf(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// startPolicies serves MTA-STS policies over HTTPS on loopback, by host name, with a
// certificate from ca.
func startPolicies(t *testing.T, ca *testca.CA, policies map[string]string) string {
	var names []string
	for h := range policies {
		names = append(names, h)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, names...)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := policies[r.Host]
		if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, p)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// lastAttempt returns the last attempt recorded for the entry of rcpt, live or finished.
func lastAttempt(t *testing.T, q *queue.Queue, rcpt string) (string, queue.Attempt) {
	t.Helper()
	tr, err := q.Trace(context.Background(), rcpt, 10)
	if err != nil || len(tr) == 0 || len(tr[0].Attempts) == 0 {
		t.Fatalf("trace of %s: %+v %v", rcpt, tr, err)
	}
	return tr[0].Status, tr[0].Attempts[len(tr[0].Attempts)-1]
}

const stsZone = `
test.                       300 IN SOA ns.test. admin.test. 1 3600 600 86400 1
enforce.test.               300 IN MX 10 mx.sts.test.
testing.test.               300 IN MX 10 mx.sts.test.
outside.test.               300 IN MX 10 mx.elsewhere.test.
mx.sts.test.                300 IN A 127.0.0.1
mx.elsewhere.test.          300 IN A 127.0.0.1
_mta-sts.enforce.test.      300 IN TXT "v=STSv1; id=1;"
_mta-sts.testing.test.      300 IN TXT "v=STSv1; id=7;"
_mta-sts.outside.test.      300 IN TXT "v=STSv1; id=1;"
`

func TestMTASTS(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		ca := testca.New(t, "Test Root")
		enforce := "version: STSv1\r\nmode: enforce\r\nmx: *.sts.test\r\nmax_age: 86400\r\n"
		policyAddr := startPolicies(t, ca, map[string]string{
			"mta-sts.enforce.test": enforce,
			"mta-sts.testing.test": strings.Replace(enforce, "enforce", "testing", 1),
			"mta-sts.outside.test": enforce,
		})
		dns := dnstest.Start(t, stsZone)
		res := resolver.New(resolver.Config{Upstreams: []string{dns.Addr}})
		newRunner := func(t *testing.T, receiverAddr string) *fixture {
			sts := mtasts.New(mtasts.Config{Resolver: res, Store: mtasts.DBStore{DB: d}, RootCAs: ca.Pool(),
				Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var dd net.Dialer
					return dd.DialContext(ctx, "tcp", policyAddr)
				}})
			return setupConfig(t, d, res, outbound.Config{Port: portOf(t, receiverAddr), RootCAs: ca.Pool(), MTASTS: sts})
		}
		good := startReceiverTLS(t, &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "mx.sts.test", "mx.elsewhere.test")}}, false)
		// A certificate from another authority, for the right name.
		other := testca.New(t, "Other Root")
		bad := startReceiverTLS(t, &tls.Config{Certificates: []tls.Certificate{other.Issue(t, "mx.sts.test")}}, false)

		t.Run("enforce, valid certificate", func(t *testing.T) {
			f := newRunner(t, good.addr)
			f.q.Enqueue(ctx, "anna@posta.test", []string{"e1@enforce.test"}, []byte(msg), 0)
			f.r.RunOnce(ctx)
			if good.got["e1@enforce.test"] == nil {
				t.Fatal("not delivered")
			}
			st, a := lastAttempt(t, f.q, "e1@enforce.test")
			if st != "delivered" || a.Policy != "mta-sts-enforce" || a.TLSResult != "verified (PKIX)" || !strings.HasPrefix(a.TLS, "TLS 1.3") {
				t.Fatalf("%s %+v", st, a)
			}
		})
		t.Run("enforce, certificate not trusted", func(t *testing.T) {
			f := newRunner(t, bad.addr)
			f.q.Enqueue(ctx, "anna@posta.test", []string{"e2@enforce.test"}, []byte(msg), 0)
			f.r.RunOnce(ctx)
			if bad.got["e2@enforce.test"] != nil {
				t.Fatal("delivered to a server whose certificate the policy refuses")
			}
			st, a := lastAttempt(t, f.q, "e2@enforce.test")
			if st != "queued" || a.Policy != "mta-sts-enforce" || a.Code != 451 || !strings.Contains(a.Response, "4.7.5") ||
				!strings.Contains(a.Response, "certificate signed by unknown authority") || !strings.HasPrefix(a.TLSResult, "failed:") {
				t.Fatalf("%s %+v", st, a)
			}
			// The sender's own "TLS-Required: No" waives the policy (RFC 8689 §5).
			f.q.Enqueue(ctx, "anna@posta.test", []string{"e3@enforce.test"}, []byte("TLS-Required: No\r\n"+msg), 0)
			f.r.RunOnce(ctx)
			st, a = lastAttempt(t, f.q, "e3@enforce.test")
			if bad.got["e3@enforce.test"] == nil || st != "delivered" || !strings.Contains(a.TLSResult, "TLS-Required: No") {
				t.Fatalf("TLS-Required: No: %s %+v", st, a)
			}
		})
		t.Run("enforce, MX outside the policy", func(t *testing.T) {
			f := newRunner(t, good.addr)
			f.q.Enqueue(ctx, "anna@posta.test", []string{"o1@outside.test"}, []byte(msg), 0)
			f.r.RunOnce(ctx)
			st, a := lastAttempt(t, f.q, "o1@outside.test")
			if good.got["o1@outside.test"] != nil || st != "queued" || !strings.Contains(a.Response, "not in the MTA-STS policy of outside.test") {
				t.Fatalf("%s %+v", st, a)
			}
		})
		t.Run("testing, certificate not trusted", func(t *testing.T) {
			f := newRunner(t, bad.addr)
			f.q.Enqueue(ctx, "anna@posta.test", []string{"t1@testing.test"}, []byte(msg), 0)
			f.r.RunOnce(ctx)
			st, a := lastAttempt(t, f.q, "t1@testing.test")
			if bad.got["t1@testing.test"] == nil || st != "delivered" || a.Policy != "mta-sts-testing" ||
				!strings.HasPrefix(a.TLSResult, "failed: ") || !strings.Contains(a.TLSResult, "unknown authority") {
				t.Fatalf("%s %+v", st, a)
			}
		})
	})
}

func spkiSHA256(c tls.Certificate) string {
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

func TestDANE(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	ca := testca.New(t, "DANE TA")
	// The receiver's certificate is for a name no MX has: DANE-EE does not check names.
	cert := ca.Issue(t, "unrelated.example")
	rc := startReceiverTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}}, false)
	caSum := sha256.Sum256(ca.Cert.Raw)
	zone := `
test.                   300 IN SOA ns.test. admin.test. 1 3600 600 86400 1
dane.test.              300 IN MX 10 mx.dane.test.
mismatch.test.          300 IN MX 10 mx.mismatch.test.
ta.test.                300 IN MX 10 mx.ta.test.
unsigned.test.          300 IN MX 10 mx.unsigned.test.
mx.dane.test.           300 IN A 127.0.0.1
mx.mismatch.test.       300 IN A 127.0.0.1
mx.ta.test.             300 IN A 127.0.0.1
mx.unsigned.test.       300 IN A 127.0.0.1
_25._tcp.mx.dane.test.  300 IN TLSA 3 1 1 ` + spkiSHA256(cert) + `
_25._tcp.mx.mismatch.test. 300 IN TLSA 3 1 1 ` + strings.Repeat("ab", 32) + `
_25._tcp.mx.ta.test.    300 IN TLSA 2 0 1 ` + hex.EncodeToString(caSum[:]) + `
_25._tcp.mx.unsigned.test. 300 IN TLSA 3 1 1 ` + strings.Repeat("ab", 32) + `
`
	signed := []string{"dane.test", "mx.dane.test", "_25._tcp.mx.dane.test", "mismatch.test", "mx.mismatch.test", "_25._tcp.mx.mismatch.test",
		"ta.test", "mx.ta.test", "_25._tcp.mx.ta.test"}
	dns := dnstest.Start(t, zone, signed...)
	res := resolver.New(resolver.Config{Upstreams: []string{dns.Addr}})
	f := setupConfig(t, d, res, outbound.Config{Port: portOf(t, rc.addr)})
	f.q.Enqueue(ctx, "anna@posta.test", []string{"a@dane.test"}, []byte(msg), 0)
	f.q.Enqueue(ctx, "anna@posta.test", []string{"b@mismatch.test"}, []byte(msg), 0)
	f.q.Enqueue(ctx, "anna@posta.test", []string{"c@unsigned.test"}, []byte(msg), 0)
	f.r.RunOnce(ctx)

	// 3 1 1 matching: delivered, verified by DANE-EE.
	st, a := lastAttempt(t, f.q, "a@dane.test")
	if rc.got["a@dane.test"] == nil || st != "delivered" || a.Policy != "dane" || a.TLSResult != "verified (DANE-EE 3 1 1)" {
		t.Fatalf("dane.test: %s %+v", st, a)
	}
	// Mismatch: deferred with the reason.
	st, a = lastAttempt(t, f.q, "b@mismatch.test")
	if rc.got["b@mismatch.test"] != nil || st != "queued" || a.Policy != "dane" || a.Code != 451 || !strings.Contains(a.Response, "no TLSA record of mx.mismatch.test matches") {
		t.Fatalf("mismatch.test: %s %+v", st, a)
	}
	// TLSA not validated by DNSSEC: not used; opportunistic.
	st, a = lastAttempt(t, f.q, "c@unsigned.test")
	if rc.got["c@unsigned.test"] == nil || st != "delivered" || a.Policy != "opportunistic" || !strings.HasPrefix(a.TLSResult, "not verified") {
		t.Fatalf("unsigned.test: %s %+v", st, a)
	}
	// DANE-TA: the receiver's certificate must also be for the MX name.
	f.q.Enqueue(ctx, "anna@posta.test", []string{"d@ta.test"}, []byte(msg), 0)
	f.r.RunOnce(ctx)
	st, a = lastAttempt(t, f.q, "d@ta.test")
	if st != "queued" || !strings.Contains(a.Response, "does not chain to its DANE-TA record") {
		t.Fatalf("ta.test, wrong name: %s %+v", st, a)
	}
	rc2 := startReceiverTLS(t, &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "mx.ta.test")}}, false)
	f.r = outbound.New(outbound.Config{Hostname: "mail.posta.test", Port: portOf(t, rc2.addr), Now: f.clock}, f.q, res, f.dsn)
	f.advance(time.Hour)
	f.r.RunOnce(ctx)
	st, a = lastAttempt(t, f.q, "d@ta.test")
	if rc2.got["d@ta.test"] == nil || st != "delivered" || a.TLSResult != "verified (DANE-TA 2 0 1)" {
		t.Fatalf("ta.test: %s %+v", st, a)
	}
}

func TestRequireTLS(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	ca := testca.New(t, "Test Root")
	cert := ca.Issue(t, "127.0.0.1")
	with := startReceiverTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}}, true)
	without := startReceiverTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}}, false)
	f := setupConfig(t, d, nil, outbound.Config{RootCAs: ca.Pool(), Routes: map[string]string{"with.test": with.addr, "without.test": without.addr}})
	f.q.EnqueueRequireTLS(ctx, "anna@posta.test", []string{"a@with.test"}, []byte(msg), 0, true)
	f.q.EnqueueRequireTLS(ctx, "anna@posta.test", []string{"b@without.test"}, []byte(msg), 0, true)
	f.r.RunOnce(ctx)
	st, a := lastAttempt(t, f.q, "a@with.test")
	if with.got["a@with.test"] == nil || with.reqTLS != 1 || st != "delivered" || a.Policy != "requiretls+route" || a.TLSResult != "verified (PKIX)" {
		t.Fatalf("with REQUIRETLS: %s %+v (REQUIRETLS seen %d times)", st, a, with.reqTLS)
	}
	st, a = lastAttempt(t, f.q, "b@without.test")
	if without.got["b@without.test"] != nil || st != "failed" || !strings.Contains(a.Response, "5.7.30") {
		t.Fatalf("without REQUIRETLS: %s %+v", st, a)
	}
	dsns := f.dsn.got["anna@posta.test"]
	if len(dsns) != 1 || !strings.Contains(dsns[0], "Status: 5.7.30") || !strings.Contains(dsns[0], "does not support REQUIRETLS") {
		t.Fatalf("DSNs: %q", dsns)
	}
	// An untrusted certificate is no better.
	f2 := setupConfig(t, d, nil, outbound.Config{Routes: map[string]string{"with.test": with.addr}})
	f2.q.EnqueueRequireTLS(ctx, "anna@posta.test", []string{"c@with.test"}, []byte(msg), 0, true)
	f2.r.RunOnce(ctx)
	if st, a := lastAttempt(t, f2.q, "c@with.test"); st != "failed" || !strings.Contains(a.Response, "5.7.30") || !strings.Contains(a.Response, "not verified") {
		t.Fatalf("untrusted: %s %+v", st, a)
	}
}

// A server whose TLS cannot be negotiated still gets the mail in clear when no policy asks for
// TLS (RFC 7435 §4), and the attempt says so; a REQUIRETLS message does not go.
func TestOpportunisticFallback(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	ca := testca.New(t, "Test Root")
	old := startReceiverTLS(t, &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "127.0.0.1")}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, true)
	f := setupConfig(t, d, nil, outbound.Config{RootCAs: ca.Pool(), Routes: map[string]string{"old.test": old.addr}})
	f.q.Enqueue(ctx, "anna@posta.test", []string{"a@old.test"}, []byte(msg), 0)
	f.q.EnqueueRequireTLS(ctx, "anna@posta.test", []string{"b@old.test"}, []byte(msg), 0, true)
	f.r.RunOnce(ctx)
	st, a := lastAttempt(t, f.q, "a@old.test")
	if old.got["a@old.test"] == nil || st != "delivered" || a.TLS != "" || !strings.Contains(a.TLSResult, "in clear") {
		t.Fatalf("opportunistic: %s %+v", st, a)
	}
	if st, a := lastAttempt(t, f.q, "b@old.test"); old.got["b@old.test"] != nil || st == "delivered" {
		t.Fatalf("REQUIRETLS went in clear: %s %+v", st, a)
	}
}
