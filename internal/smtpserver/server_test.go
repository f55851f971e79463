package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailauth"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/resolver"
)

const testPW = "Correct-Horse-42"

// testEnv is a real SMTP service on loopback over SQLite: tenant t with domain x.test, account
// mario@x.test; a second tenant "small" (limit 1000 bytes) with domain small.test and luigi.
type testEnv struct {
	mx, sub string
	store   *mailstore.Store
	dir     *directory.Service
}

// txtDNS answers TXT look-ups from a table and nothing else (a mailauth.Resolver).
type txtDNS map[string][]string

func (d txtDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if v, ok := d[name]; ok {
		return v, nil
	}
	return nil, resolver.ErrNotFound
}
func (txtDNS) LookupMX(context.Context, string) ([]string, error) { return nil, resolver.ErrNotFound }
func (txtDNS) LookupA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}
func (txtDNS) LookupAAAA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}
func (txtDNS) LookupPTR(context.Context, netip.Addr) ([]string, error) {
	return nil, resolver.ErrNotFound
}

func setup(tb testing.TB) *testEnv {
	tb.Helper()
	return setupWith(tb, nil)
}

// setupWith is setup with the SMTP configuration changed by configure.
func setupWith(tb testing.TB, configure func(*Config)) *testEnv {
	tb.Helper()
	ctx := directory.WithActor(context.Background(), directory.SystemActor("test"))
	d := dbtest.Open(tb, dbtest.DSN(tb, "sqlite"))
	b, err := blob.Open(filepath.Join(tb.TempDir(), "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: log})
	tb.Cleanup(func() { st.Close() })
	dir := directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		directory.Options{OnAccountCreated: mailstore.CreateDefaultMailboxes})
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(dir.SeedStandardCOS(ctx))
	_, err = dir.CreateTenant(ctx, directory.TenantSpec{Name: "t", ContactEmail: "c@x.test", Contract: "payg"})
	must(err)
	_, err = dir.CreateTenant(ctx, directory.TenantSpec{Name: "small", ContactEmail: "c@small.test", Contract: "payg", MaxMessageSize: 1000})
	must(err)
	_, err = dir.AddDomain(ctx, "t", "x.test", directory.DomainOptions{})
	must(err)
	_, err = dir.AddDomain(ctx, "small", "small.test", directory.DomainOptions{})
	must(err)
	off := false
	_, err = dir.UpdateTenant(ctx, "small", directory.TenantUpdate{RejectDMARC: &off}) // DMARC rejects go to Junk
	must(err)
	for _, a := range []string{"mario@x.test", "luigi@small.test"} {
		_, err = dir.CreateAccount(ctx, directory.AccountSpec{Address: a, Password: testPW, COS: "Business Mail 100 MB"})
		must(err)
	}
	broke, err := dir.CreateTenant(ctx, directory.TenantSpec{Name: "broke", ContactEmail: "c@broke.test", Contract: "payg"})
	must(err)
	_, err = dir.AddDomain(ctx, "broke", "broke.test", directory.DomainOptions{})
	must(err)
	_, err = dir.CreateAccount(ctx, directory.AccountSpec{Address: "poor@broke.test", Password: testPW, COS: "Business Mail 100 MB"})
	must(err)
	_, err = dir.CreateCOS(ctx, directory.COSSpec{Name: "Limited", ServiceType: "custom", QuotaMB: 100, Features: []string{"mail"}, SendPerDay: 2, RecipientsPerMessage: 2})
	must(err)
	_, err = dir.CreateAccount(ctx, directory.AccountSpec{Address: "lim@x.test", Password: testPW, COS: "Limited"})
	must(err)
	dl := deliver.New(dir, st, queue.New(d, b), "mx.test", log)
	dns := txtDNS{
		"good.test": {"v=spf1 ip4:127.0.0.1 -all"}, "_dmarc.good.test": {"v=DMARC1; p=reject"},
		"evil.test": {"v=spf1 -all"}, "_dmarc.evil.test": {"v=DMARC1; p=reject"},
		"shady.test": {"v=spf1 -all"}, "_dmarc.shady.test": {"v=DMARC1; p=quarantine"},
	}
	cfg := Config{Hostname: "mx.test", MaxMessageSize: 100000, MaxRecipients: 5, AllowInsecureAuth: true, Logger: log,
		Inbound: &mailauth.Inbound{Resolver: dns, AuthservID: "mx.test"}, RejectDMARC: true, CheckLoopback: true, TenantRejectsDMARC: dir.RejectsDMARC,
		Suspended: func(_ context.Context, tenantID int64) (bool, error) { return tenantID == broke.ID, nil }}
	if configure != nil {
		configure(&cfg)
	}
	if cfg.Metrics != nil {
		dl.SetObserver(cfg.Metrics) // as the server wires them
	}
	srv := New(cfg, dir, dl, auth.NewThrottle(auth.ThrottleConfig{}, nil))
	e := &testEnv{store: st, dir: dir}
	for _, m := range []struct {
		mode Mode
		addr *string
	}{{MX, &e.mx}, {Submission, &e.sub}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(err)
		*m.addr = ln.Addr().String()
		go srv.Serve(context.Background(), ln, m.mode)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return e
}

// converse sends each line and returns the server's complete reply to it (multi-line replies
// joined with "\n"), after the greeting.
func converse(t *testing.T, addr string, lines ...string) []string {
	t.Helper()
	return converseFrom(t, "", addr, lines...)
}

// converseFrom is converse from the local address from ("" for any).
func converseFrom(t *testing.T, from, addr string, lines ...string) []string {
	t.Helper()
	var d net.Dialer
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	readReply := func() string {
		var out []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply: %v (so far %q)", err, out)
			}
			l = strings.TrimRight(l, "\r\n")
			out = append(out, l)
			if len(l) < 4 || l[3] != '-' {
				return strings.Join(out, "\n")
			}
		}
	}
	if g := readReply(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("greeting %q", g)
	}
	var replies []string
	for _, l := range lines {
		fmt.Fprintf(c, "%s\r\n", l)
		if l == "DATA" || strings.HasPrefix(l, "DATA\r\n") {
			replies = append(replies, readReply()) // 354, the body follows as the next line
			continue
		}
		replies = append(replies, readReply())
	}
	return replies
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestSessions(t *testing.T) {
	e := setup(t)
	body := func(n int) string {
		return "From: <mario@x.test>\r\nSubject: t\r\n\r\n" + strings.Repeat("x", n) + "\r\n."
	}
	tests := []struct {
		name  string
		sub   bool
		lines []string
		want  []string // regexp per reply; "" skips
	}{
		{"EHLO advertises the extensions", false, []string{"EHLO c.test"},
			[]string{`(?s)^250-.*PIPELINING.*8BITMIME.*ENHANCEDSTATUSCODES.*CHUNKING.*SMTPUTF8.*SIZE 100000`}},
		{"REQUIRETLS refused without TLS", false, []string{"EHLO c", "MAIL FROM:<a@ext.test> REQUIRETLS"},
			[]string{"", `^530 5\.7\.10 `}},
		{"unknown user at RCPT", false, []string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<nobody@x.test>"},
			[]string{"", `^250 `, `^550 5\.1\.1 `}},
		{"no relaying without AUTH", false, []string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<b@elsewhere.test>"},
			[]string{"", `^250 `, `^554 5\.7\.1 `}},
		{"declared size over the node limit", false, []string{"EHLO c", "MAIL FROM:<a@ext.test> SIZE=100001"},
			[]string{"", `^552 5\.3\.4 `}},
		{"declared size over the recipient's tenant limit", false, []string{"EHLO c", "MAIL FROM:<a@ext.test> SIZE=5000", "RCPT TO:<luigi@small.test>", "RCPT TO:<mario@x.test>"},
			[]string{"", `^250 `, `^552 5\.3\.4 `, `^250 `}},
		{"too many recipients", false, []string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<mario@x.test>", "RCPT TO:<mario@x.test>", "RCPT TO:<mario@x.test>", "RCPT TO:<mario@x.test>", "RCPT TO:<mario@x.test>", "RCPT TO:<mario@x.test>"},
			[]string{"", "", "", "", "", "", `^250 `, `^452 4\.5\.3 `}},
		{"a delivery", false, []string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<mario@x.test>", "DATA", body(10)},
			[]string{"", "", "", `^354 `, `^250 2\.0\.0 `}},
		{"BDAT", false, []string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<mario@x.test>", "BDAT 20 LAST\r\nSubject: b\r\n\r\nchunk"},
			[]string{"", "", "", `^250 2\.0\.0 `}},
		{"submission without AUTH", true, []string{"EHLO c", "MAIL FROM:<mario@x.test>"},
			[]string{"", `^530 5\.7\.0 `}},
		{"wrong password", true, []string{"EHLO c", "AUTH PLAIN " + plain("mario@x.test", "nope-nope-nope")},
			[]string{"", `^535 5\.7\.8 `}},
		{"sending as another", true, []string{"EHLO c", "AUTH PLAIN " + plain("mario@x.test", testPW), "MAIL FROM:<luigi@small.test>"},
			[]string{"", `^235 `, `^553 5\.7\.1 `}},
		{"sender's tenant limit at DATA", true, []string{"EHLO c", "AUTH PLAIN " + plain("luigi@small.test", testPW), "MAIL FROM:<luigi@small.test>", "RCPT TO:<mario@x.test>", "DATA", "From: <luigi@small.test>\r\n\r\n" + strings.Repeat("y", 2000) + "\r\n."},
			[]string{"", `^235 `, `^250 `, `^250 `, `^354 `, `^552 5\.3\.4 `}},
		{"recipients per message of the COS", true, []string{"EHLO c", "AUTH PLAIN " + plain("lim@x.test", testPW), "MAIL FROM:<lim@x.test>", "RCPT TO:<mario@x.test>", "RCPT TO:<luigi@small.test>", "RCPT TO:<lim@x.test>", "DATA", "From: <lim@x.test>\r\n\r\n1\r\n."},
			[]string{"", `^235 `, `^250 `, `^250 `, `^250 `, `^452 4\.5\.3 .*limit is 2`, `^354 `, `^250 2\.0\.0 `}},
		{"daily sending limit of the COS", true, []string{"EHLO c", "AUTH PLAIN " + plain("lim@x.test", testPW), "MAIL FROM:<lim@x.test>", "RCPT TO:<mario@x.test>", "DATA", "From: <lim@x.test>\r\n\r\n2\r\n.", "MAIL FROM:<lim@x.test>"},
			[]string{"", `^235 `, `^250 `, `^250 `, `^354 `, `^250 2\.0\.0 `, `^450 4\.7\.1 Daily sending limit of 2 messages`}},
		{"DMARC reject refused", false, []string{"EHLO c", "MAIL FROM:<a@evil.test>", "RCPT TO:<mario@x.test>", "DATA", "From: <boss@evil.test>\r\n\r\nx\r\n."},
			[]string{"", "", "", `^354 `, `^550 5\.7\.1 Rejected by the DMARC policy of evil\.test`}},
		{"DMARC reject to Junk for a tenant that does not refuse", false, []string{"EHLO c", "MAIL FROM:<a@evil.test>", "RCPT TO:<luigi@small.test>", "DATA", "From: <boss@evil.test>\r\n\r\nx\r\n."},
			[]string{"", "", "", `^354 `, `^250 `}},
		{"one DMARC rule per transaction", false, []string{"EHLO c", "MAIL FROM:<a@evil.test>", "RCPT TO:<mario@x.test>", "RCPT TO:<luigi@small.test>", "RSET", "MAIL FROM:<a@evil.test>", "RCPT TO:<luigi@small.test>"},
			[]string{"", "", `^250 `, `^452 4\.5\.3 .*DMARC`, "", "", `^250 `}},
		{"DMARC quarantine goes to Junk", false, []string{"EHLO c", "MAIL FROM:<a@shady.test>", "RCPT TO:<mario@x.test>", "DATA", "From: <a@shady.test>\r\nSubject: shady\r\n\r\nx\r\n."},
			[]string{"", "", "", `^354 `, `^250 `}},
		{"SPF and DMARC pass", false, []string{"EHLO c", "MAIL FROM:<a@good.test>", "RCPT TO:<mario@x.test>", "DATA", "From: <a@good.test>\r\nSubject: good\r\nAuthentication-Results: mx.test; spf=pass forged\r\n\r\nx\r\n."},
			[]string{"", "", "", `^354 `, `^250 `}},
		{"sending suspended for lack of credit", true, []string{"EHLO c", "AUTH PLAIN " + plain("poor@broke.test", testPW), "MAIL FROM:<poor@broke.test>"},
			[]string{"", `^235 `, `^550 5\.7\.1 Sending is suspended`}},
		{"submission delivers", true, []string{"EHLO c", "AUTH PLAIN " + plain("mario@x.test", testPW), "MAIL FROM:<mario@x.test>", "RCPT TO:<mario@x.test>", "DATA", body(100)},
			[]string{"", `^235 `, `^250 `, `^250 `, `^354 `, `^250 2\.0\.0 `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := e.mx
			if tt.sub {
				addr = e.sub
			}
			got := converse(t, addr, tt.lines...)
			for i, re := range tt.want {
				if re != "" && !regexp.MustCompile(re).MatchString(got[i]) {
					t.Errorf("reply to %q = %q, want %s", tt.lines[i], got[i], re)
				}
			}
		})
	}
	acc, _ := e.dir.Resolve(context.Background(), "mario@x.test")
	inbox, _ := e.store.Mailbox(context.Background(), acc.Account.ID, "INBOX")
	if uids, _ := e.store.UIDs(context.Background(), inbox.ID); len(uids) != 6 {
		t.Errorf("mario has %d messages, want 6 (DATA, BDAT, good.test, two from lim, submission)", len(uids))
	}
	junk, _ := e.store.Mailbox(context.Background(), acc.Account.ID, "Junk")
	if uids, _ := e.store.UIDs(context.Background(), junk.ID); len(uids) != 1 {
		t.Errorf("mario has %d messages in Junk, want 1 (shady.test)", len(uids))
	}
	luigi, _ := e.dir.Resolve(context.Background(), "luigi@small.test")
	junk, _ = e.store.Mailbox(context.Background(), luigi.Account.ID, "Junk")
	if uids, _ := e.store.UIDs(context.Background(), junk.ID); len(uids) != 1 {
		t.Errorf("luigi has %d messages in Junk, want 1 (evil.test, p=reject, not refused by his tenant)", len(uids))
	}
	// The forged verdict is gone, ours is there.
	var hdr []byte
	e.store.Messages(context.Background(), inbox.ID, nil, mailstore.WithHeader, func(m *mailstore.Message) error {
		if bytes.Contains(m.Header, []byte("Subject: good")) {
			hdr = m.Header
		}
		return nil
	})
	if !bytes.Contains(hdr, []byte("Authentication-Results: mx.test;")) || bytes.Contains(hdr, []byte("forged")) ||
		!bytes.Contains(hdr, []byte("spf=pass")) || !bytes.Contains(hdr, []byte("dmarc=pass")) {
		t.Errorf("header of the good message:\n%s", hdr)
	}
}

// FuzzSession feeds arbitrary bytes to the MX and the submission service. Nothing may crash
// the server, and it must still greet the next client.
func FuzzSession(f *testing.F) {
	f.Add("EHLO a\r\nMAIL FROM:<a@b.test> SIZE=99999999999999999999\r\nRCPT TO:<mario@x.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n", false)
	f.Add("HELO\r\nMAIL FROM:<>\r\nRCPT TO:<@x.test:mario@x.test>\r\nBDAT 5\r\nabcdeBDAT 0 LAST\r\n", false)
	f.Add("EHLO a\r\nAUTH LOGIN\r\n=\r\n*\r\nAUTH PLAIN AGFAYg==\r\nMAIL FROM:<mario@x.test> BODY=8BITMIME SMTPUTF8\r\n", true)
	f.Add("RCPT TO:<\"quoted local\"@x.test>\r\nMAIL FROM:<a@[127.0.0.1]>\r\nVRFY mario\r\nEXPN list\r\nRSET\r\nNOOP\r\n", false)
	e := setup(f)
	f.Fuzz(func(t *testing.T, input string, submission bool) {
		addr := e.mx
		if submission {
			addr = e.sub
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		go io.Copy(io.Discard, c)
		c.Write([]byte(input))
		c.Close()
		c, err = net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if l, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(l, "220 ") {
			t.Fatalf("after %q the server greets with %q, %v", input, l, err)
		}
	})
}
