package smtpserver

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/observe"
	"github.com/postamail/posta/internal/resolver"
	"github.com/postamail/posta/internal/resolver/dnstest"
)

// blZone lists 127.0.0.2 (the test entry every real list has) in bl.test, with a reason, and
// answers it with an error code in refused.test; 127.0.0.1 is listed nowhere.
const blZone = `
test.                      300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
2.0.0.127.bl.test.         300 IN A   127.0.0.2
2.0.0.127.bl.test.         300 IN A   127.0.0.4
2.0.0.127.bl.test.         300 IN TXT "Listed for testing: see https://bl.test/q/127.0.0.2"
2.0.0.127.refused.test.    300 IN A   127.255.255.254
`

// listedIP is a loopback source address the block list lists; test clients bind to it.
const listedIP = "127.0.0.2"

func dnsblSetup(t *testing.T, upstream string, configure func(*Config)) (*testEnv, *observe.Metrics) {
	t.Helper()
	m := observe.NewMetrics()
	e := setupWith(t, func(c *Config) {
		c.DNS = resolver.New(resolver.Config{Upstreams: []string{upstream}, Timeout: 300 * time.Millisecond, Attempts: 1})
		c.DNSBL = []string{"clean.test", "bl.test"}
		c.Metrics = m
		if configure != nil {
			configure(c)
		}
	})
	return e, m
}

// mailboxHeaders returns the headers of the messages in account's mailbox.
func mailboxHeaders(t *testing.T, e *testEnv, account, mailbox string) []string {
	t.Helper()
	ctx := context.Background()
	r, err := e.dir.Resolve(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := e.store.Mailbox(ctx, r.Account.ID, mailbox)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	e.store.Messages(ctx, mb.ID, nil, mailstore.WithHeader, func(m *mailstore.Message) error {
		out = append(out, string(m.Header))
		return nil
	})
	return out
}

func checkReplies(t *testing.T, lines, got, want []string) {
	t.Helper()
	for i, re := range want {
		if re != "" && !regexp.MustCompile(re).MatchString(got[i]) {
			t.Errorf("reply to %q = %q, want %s", lines[i], got[i], re)
		}
	}
}

func TestDNSBLReject(t *testing.T) {
	zone := dnstest.Start(t, blZone)
	e, m := dnsblSetup(t, zone.Addr, nil)
	msg := func(subject string) string {
		return "From: <a@ext.test>\r\nSubject: " + subject + "\r\n\r\nx\r\n."
	}
	tests := []struct {
		name  string
		from  string
		sub   bool
		lines []string
		want  []string
	}{
		{"listed client refused at MAIL FROM, every time", listedIP, false,
			[]string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<mario@x.test>", "MAIL FROM:<>"},
			[]string{"", `^554 5\.7\.1 Service unavailable; client \[127\.0\.0\.2\] listed by bl\.test \(Listed for testing: see https://bl\.test/q/127\.0\.0\.2\)$`,
				`^50[23] 5\.5\.1 `, `^554 5\.7\.1 .*listed by bl\.test`}},
		{"client not listed accepted", "127.0.0.1", false,
			[]string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<mario@x.test>", "DATA", msg("clean")},
			[]string{"", `^250 `, `^250 `, `^354 `, `^250 2\.0\.0 `}},
		{"authenticated client on the MX not checked", listedIP, false,
			[]string{"EHLO c", "AUTH PLAIN " + plain("mario@x.test", testPW), "MAIL FROM:<mario@x.test>", "RCPT TO:<mario@x.test>", "DATA", "From: <mario@x.test>\r\nSubject: own\r\n\r\nx\r\n."},
			[]string{"", `^235 `, `^250 `, `^250 `, `^354 `, `^250 2\.0\.0 `}},
		{"submission never checked", listedIP, true,
			[]string{"EHLO c", "AUTH PLAIN " + plain("mario@x.test", testPW), "MAIL FROM:<mario@x.test>", "RCPT TO:<mario@x.test>", "DATA", "From: <mario@x.test>\r\nSubject: sub\r\n\r\nx\r\n."},
			[]string{"", `^235 `, `^250 `, `^250 `, `^354 `, `^250 2\.0\.0 `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := e.mx
			if tt.sub {
				addr = e.sub
			}
			checkReplies(t, tt.lines, converseFrom(t, tt.from, addr, tt.lines...), tt.want)
		})
	}
	if got := len(mailboxHeaders(t, e, "mario@x.test", "INBOX")); got != 3 {
		t.Errorf("mario has %d messages, want 3 (clean, own, sub)", got)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`posta_dnsbl_checks_total{result="listed",zone="bl.test"} 1`,
		`posta_dnsbl_checks_total{result="clean",zone="bl.test"} 1`,
		`posta_dnsbl_checks_total{result="clean",zone="clean.test"} 2`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestDNSBLJunk(t *testing.T) {
	zone := dnstest.Start(t, blZone)
	e, _ := dnsblSetup(t, zone.Addr, func(c *Config) { c.DNSBLJunk = true })
	for _, tt := range []struct{ from, subject string }{{listedIP, "listed"}, {"127.0.0.1", "forged"}} {
		lines := []string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<mario@x.test>", "DATA",
			"From: <a@ext.test>\r\nSubject: " + tt.subject + "\r\nX-Posta-DNSBL: not listed\r\nx-posta-dnsbl :\r\n folded\r\n\r\nx\r\n."}
		checkReplies(t, lines, converseFrom(t, tt.from, e.mx, lines...), []string{"", `^250 `, `^250 `, `^354 `, `^250 2\.0\.0 `})
	}
	junk := mailboxHeaders(t, e, "mario@x.test", "Junk")
	if len(junk) != 1 || !strings.Contains(junk[0], "Subject: listed") {
		t.Fatalf("Junk holds %q, want the message of the listed client", junk)
	}
	want := `X-Posta-DNSBL: listed by bl.test; client=[127.0.0.2]; codes=127.0.0.2,127.0.0.4; reason="Listed for testing: see https://bl.test/q/127.0.0.2"` + "\r\n"
	if !strings.Contains(junk[0], want) || strings.Contains(junk[0], "not listed") || strings.Contains(junk[0], "folded") {
		t.Errorf("header of the listed message:\n%s\nwant %q and no forged field", junk[0], want)
	}
	inbox := mailboxHeaders(t, e, "mario@x.test", "INBOX")
	if len(inbox) != 1 || strings.Contains(strings.ToLower(inbox[0]), "x-posta-dnsbl") || strings.Contains(inbox[0], "folded") {
		t.Errorf("INBOX holds %q, want the other message without the forged fields", inbox)
	}
}

func TestDNSBLFailuresAccept(t *testing.T) {
	// A DNS server that never answers: the look-up times out.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	zone := dnstest.Start(t, blZone)
	for _, tt := range []struct {
		name     string
		upstream string
		zones    []string
		timeout  time.Duration
	}{
		{"upstream silent", pc.LocalAddr().String(), []string{"bl.test"}, 0},
		{"look-ups slower than the session's budget", pc.LocalAddr().String(), []string{"bl.test"}, 50 * time.Millisecond},
		{"error code instead of a listing", zone.Addr, []string{"refused.test"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, m := dnsblSetup(t, tt.upstream, func(c *Config) { c.DNSBL, c.DNSBLTimeout = tt.zones, tt.timeout })
			lines := []string{"EHLO c", "MAIL FROM:<a@ext.test>", "RCPT TO:<mario@x.test>", "DATA", "Subject: t\r\n\r\nx\r\n."}
			checkReplies(t, lines, converseFrom(t, listedIP, e.mx, lines...), []string{"", `^250 `, `^250 `, `^354 `, `^250 2\.0\.0 `})
			if n := len(mailboxHeaders(t, e, "mario@x.test", "INBOX")); n != 1 {
				t.Errorf("INBOX holds %d messages, want 1", n)
			}
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if want := `posta_dnsbl_checks_total{result="error",zone="` + tt.zones[0] + `"} 1`; !strings.Contains(rec.Body.String(), want) {
				t.Errorf("metrics lack %s", want)
			}
		})
	}
}

func TestStripField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A: 1\r\n\r\nX-Posta-DNSBL: body\r\n", "A: 1\r\n\r\nX-Posta-DNSBL: body\r\n"},
		{"X-Posta-DNSBL: a\r\nB: 2\r\n\r\nbody", "B: 2\r\n\r\nbody"},
		{"A: 1\r\nx-posta-dnsbl : a\r\n\tfolded\r\nB: 2\r\nX-POSTA-DNSBL:\r\n\r\nbody", "A: 1\r\nB: 2\r\n\r\nbody"},
		{"X-Posta-DNSBL-Other: kept\r\nX-Posta-DNSBLx: kept\r\n\r\n", "X-Posta-DNSBL-Other: kept\r\nX-Posta-DNSBLx: kept\r\n\r\n"},
		{"A: 1\nX-Posta-DNSBL: bare LF\n\nbody", "A: 1\n\nbody"},
		{"X-Posta-DNSBL: no body, no end", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(stripField([]byte(tt.in), dnsblField)); got != tt.want {
			t.Errorf("stripField(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReason(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Listed: see https://x.test/q", "Listed: see https://x.test/q"},
		{"two\r\nlines\tand\x00nul", "two lines and nul"},
		{"città", "citt"},
		{strings.Repeat("a", 300), strings.Repeat("a", 197) + "..."},
	}
	for _, tt := range tests {
		if got := reason(tt.in); got != tt.want {
			t.Errorf("reason(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzStripField checks that stripping leaves no field of that name in the header, never
// changes the body, and changes nothing when there is no such field.
func FuzzStripField(f *testing.F) {
	f.Add([]byte("X-Posta-DNSBL: a\r\n b\r\nC: d\r\n\r\nX-Posta-DNSBL: body"))
	f.Add([]byte("a\nX-Posta-DNSBL:\n\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := stripField(msg, dnsblField)
		if again := stripField(out, dnsblField); !bytes.Equal(again, out) {
			t.Fatalf("stripping twice changed %q to %q", out, again)
		}
		if !bytes.Contains(bytes.ToLower(msg), []byte("x-posta-dnsbl")) && !bytes.Equal(out, msg) {
			t.Fatalf("changed %q to %q without such a field", msg, out)
		}
		// The body starts at the first empty line; it must come out whole.
		body := []byte(nil)
		for i := 0; i < len(msg); {
			if msg[i] == '\n' || msg[i] == '\r' && i+1 < len(msg) && msg[i+1] == '\n' {
				body = msg[i:]
				break
			}
			nl := bytes.IndexByte(msg[i:], '\n')
			if nl < 0 {
				break
			}
			i += nl + 1
		}
		if !bytes.HasSuffix(out, body) || len(out) > len(msg) {
			t.Fatalf("stripping %q gave %q: body %q changed", msg, out, body)
		}
	})
}

// TestDNSBLTimeoutBoundsTheLookups: a resolver that would wait 10 s for a silent upstream
// keeps MAIL FROM waiting only as long as the configured time for block list look-ups.
func TestDNSBLTimeoutBoundsTheLookups(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	e, _ := dnsblSetup(t, pc.LocalAddr().String(), func(c *Config) {
		c.DNS = resolver.New(resolver.Config{Upstreams: []string{pc.LocalAddr().String()}, Timeout: 10 * time.Second, Attempts: 1})
		c.DNSBLTimeout = 200 * time.Millisecond
	})
	lines := []string{"EHLO c", "MAIL FROM:<a@ext.test>"}
	start := time.Now()
	checkReplies(t, lines, converseFrom(t, listedIP, e.mx, lines...), []string{"", `^250 `})
	if took := time.Since(start); took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("MAIL FROM answered after %s, want about 200ms (the look-up budget), well under the default 5s", took)
	}
}
