package outbound_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/certs"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/outbound"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/resolver"
)

// receiver is a receiving MTA on loopback: it answers each recipient as told and keeps what
// it accepted.
type receiver struct {
	mu       sync.Mutex
	answers  map[string]*smtp.SMTPError // by recipient; nil: accept
	got      map[string][]byte          // by recipient
	sessions int
	txs      int
	tls      int
	reqTLS   int // transactions with MAIL FROM ... REQUIRETLS
	addr     string
	ln       *trackingListener
}

// trackingListener counts the connections it accepts and can cut them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// cut closes every accepted connection, as a server that drops idle clients does.
func (l *trackingListener) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

func (rc *receiver) NewSession(c *smtp.Conn) (smtp.Session, error) {
	rc.mu.Lock()
	rc.sessions++
	rc.mu.Unlock()
	return &rsess{rc: rc, c: c}, nil
}

type rsess struct {
	rc    *receiver
	c     *smtp.Conn
	rcpts []string
}

func (s *rsess) Mail(from string, o *smtp.MailOptions) error {
	if o != nil && o.RequireTLS {
		s.rc.mu.Lock()
		s.rc.reqTLS++
		s.rc.mu.Unlock()
	}
	return nil
}
func (s *rsess) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rc.mu.Lock()
	defer s.rc.mu.Unlock()
	if e := s.rc.answers[to]; e != nil {
		return e
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *rsess) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.rc.mu.Lock()
	defer s.rc.mu.Unlock()
	s.rc.txs++
	if _, ok := s.c.TLSConnectionState(); ok {
		s.rc.tls++
	}
	for _, to := range s.rcpts {
		s.rc.got[to] = b
	}
	return nil
}
func (s *rsess) Reset()        { s.rcpts = nil }
func (s *rsess) Logout() error { return nil }

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.EnsureSelfSigned(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), []string{"mx.remote.test"}); err != nil {
		t.Fatal(err)
	}
	cs, err := certs.NewStore(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return startReceiverTLS(t, cs.TLSConfig(), false)
}

// startReceiverTLS starts a receiver with the TLS configuration given, advertising REQUIRETLS
// when asked.
func startReceiverTLS(t *testing.T, tc *tls.Config, requireTLS bool) *receiver {
	rc := &receiver{answers: map[string]*smtp.SMTPError{}, got: map[string][]byte{}}
	srv := smtp.NewServer(rc)
	srv.Domain = "mx.remote.test"
	srv.TLSConfig = tc
	srv.EnableREQUIRETLS = requireTLS
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = ln.Addr().String()
	rc.ln = &trackingListener{Listener: ln}
	go srv.Serve(rc.ln)
	t.Cleanup(func() { srv.Close() })
	return rc
}

type dsnBox struct {
	mu  sync.Mutex
	got map[string][]string
}

func (b *dsnBox) Notify(ctx context.Context, to string, raw []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got[to] = append(b.got[to], string(raw))
	return nil
}

// fakeDNS answers MX and address look-ups from tables.
type fakeDNS struct {
	mx   map[string][]resolver.MX
	host map[string][]netip.Addr
}

func (f fakeDNS) LookupMX(ctx context.Context, d string) ([]resolver.MX, resolver.Result, error) {
	if mx, ok := f.mx[d]; ok {
		if mx == nil {
			return nil, resolver.Result{}, resolver.ErrNoData
		}
		return mx, resolver.Result{}, nil
	}
	return nil, resolver.Result{}, resolver.ErrNotFound
}

func (f fakeDNS) LookupIP(ctx context.Context, h string) ([]netip.Addr, resolver.Result, error) {
	if a, ok := f.host[h]; ok {
		return a, resolver.Result{}, nil
	}
	return nil, resolver.Result{}, resolver.ErrNotFound
}

func (f fakeDNS) LookupTLSA(ctx context.Context, port int, proto, h string) ([]resolver.TLSA, resolver.Result, error) {
	return nil, resolver.Result{}, resolver.ErrNoData
}

type fixture struct {
	q     *queue.Queue
	d     *db.DB
	r     *outbound.Runner
	dsn   *dsnBox
	now   time.Time
	nowMu sync.Mutex
}

func setup(t *testing.T, d *db.DB, dns outbound.Resolver, routes map[string]string, port int) *fixture {
	return setupConfig(t, d, dns, outbound.Config{Routes: routes, Port: port, TLS: &tls.Config{InsecureSkipVerify: true}})
}

// setupConfig is setup with more of the runner's configuration.
func setupConfig(t *testing.T, d *db.DB, dns outbound.Resolver, cfg outbound.Config) *fixture {
	b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{q: queue.New(d, b), d: d, dsn: &dsnBox{got: map[string][]string{}}, now: time.Now().Add(time.Minute)}
	cfg.Hostname = "mail.posta.test"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Now = f.clock
	f.r = outbound.New(cfg, f.q, dns, f.dsn)
	return f
}

func (f *fixture) clock() time.Time {
	f.nowMu.Lock()
	defer f.nowMu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.nowMu.Lock()
	f.now = f.now.Add(d)
	f.nowMu.Unlock()
}

func (f *fixture) count(t *testing.T, q string) int {
	var n int
	if err := f.d.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const msg = "From: Anna <anna@posta.test>\r\nTo: bob@remote.test\r\nSubject: hello\r\nMessage-ID: <out1@posta.test>\r\n\r\nhello there\r\n.leading dot\r\n"

func TestDeliveryRetriesAndDSNs(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		rc := startReceiver(t)
		f := setup(t, d, nil, map[string]string{"remote.test": rc.addr}, 0)
		rc.answers["full@remote.test"] = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
		rc.answers["nobody@remote.test"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		if err := f.q.Enqueue(ctx, "anna@posta.test", []string{"bob@remote.test", "carl@remote.test", "full@remote.test", "nobody@remote.test"}, []byte(msg), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.q.Enqueue(ctx, "", []string{"nobody@remote.test"}, []byte("Subject: a bounce\r\n\r\nx\r\n"), 0); err != nil {
			t.Fatal(err)
		}
		if n := f.r.RunOnce(ctx); n != 5 {
			t.Fatalf("handled %d, want 5", n)
		}
		// bob and carl in one TLS transaction, the body intact (dot-stuffing undone).
		if string(rc.got["bob@remote.test"]) != msg || string(rc.got["carl@remote.test"]) != msg {
			t.Fatalf("received %q", rc.got["bob@remote.test"])
		}
		// (go-smtp opens a second session on the same connection after STARTTLS.)
		if rc.sessions != 2 || rc.txs != 1 || rc.tls != 1 {
			t.Errorf("%d sessions, %d transactions, %d over TLS; want 2 (one connection), 1, 1", rc.sessions, rc.txs, rc.tls)
		}
		// nobody: failed with a DSN to anna; the bounce from <> failed without one.
		dsns := f.dsn.got["anna@posta.test"]
		if len(dsns) != 1 || !strings.Contains(dsns[0], "Final-Recipient: rfc822; nobody@remote.test") || !strings.Contains(dsns[0], "Status: 5.1.1") ||
			!strings.Contains(dsns[0], "Action: failed") || !strings.Contains(dsns[0], "report-type=delivery-status") || !strings.Contains(dsns[0], "Message-ID: <out1@posta.test>") {
			t.Fatalf("DSNs: %q", dsns)
		}
		if len(f.dsn.got[""]) != 0 {
			t.Fatal("a DSN went to the null sender")
		}
		// full: still queued, retried in 5 minutes.
		if n := f.count(t, `SELECT COUNT(*) FROM queue`); n != 1 {
			t.Fatalf("%d left in the queue, want 1", n)
		}
		if n := f.r.RunOnce(ctx); n != 0 {
			t.Fatalf("retried %d before its time", n)
		}
		// After 4 hours: one delay warning, however many attempts.
		for i := 0; i < 6; i++ {
			f.advance(90 * time.Minute)
			f.r.RunOnce(ctx)
		}
		dsns = f.dsn.got["anna@posta.test"]
		if len(dsns) != 2 || !strings.Contains(dsns[1], "Action: delayed") || !strings.Contains(dsns[1], "Will-Retry-Until:") {
			t.Fatalf("after 9 hours: %d DSNs %q", len(dsns), dsns)
		}
		// After 5 days: failed, with a final DSN.
		for i := 0; i < 70; i++ {
			f.advance(2 * time.Hour)
			f.r.RunOnce(ctx)
		}
		dsns = f.dsn.got["anna@posta.test"]
		if len(dsns) != 3 || !strings.Contains(dsns[2], "Status: 4.2.2") || !strings.Contains(dsns[2], "Action: failed") {
			t.Fatalf("after 5 days: %d DSNs", len(dsns))
		}
		if n := f.count(t, `SELECT COUNT(*) FROM queue`); n != 0 {
			t.Fatalf("%d left in the queue", n)
		}
		// Every body reference was released; the log and the attempts tell the story.
		if n := f.count(t, `SELECT COALESCE(SUM(refs), 0) FROM blobs`); n != 0 {
			t.Errorf("%d blob references left", n)
		}
		tr, err := f.q.Trace(ctx, "out1@posta.test", 10)
		if err != nil || len(tr) != 4 {
			t.Fatalf("trace: %d %v", len(tr), err)
		}
		statuses := map[string]string{}
		for _, e := range tr {
			statuses[e.To] = e.Status
			if e.To == "bob@remote.test" && (len(e.Attempts) != 1 || e.Attempts[0].TLS == "" || e.Attempts[0].Code != 250) {
				t.Errorf("bob's attempts: %+v", e.Attempts)
			}
		}
		if statuses["bob@remote.test"] != "delivered" || statuses["full@remote.test"] != "failed" || statuses["nobody@remote.test"] != "failed" {
			t.Errorf("statuses: %v", statuses)
		}
	})
}

func TestMXAndControl(t *testing.T) {
	ctx := context.Background()
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	rc := startReceiver(t)
	_, port, _ := net.SplitHostPort(rc.addr)
	var p int
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	dns := fakeDNS{
		mx: map[string][]resolver.MX{
			"remote.test":   {{Host: "mx2.remote.test", Pref: 20}, {Host: "mx1.remote.test", Pref: 10}},
			"nullmx.test":   {{Host: ".", Pref: 0}},
			"deadmx.test":   {{Host: "dead.test", Pref: 10}},
			"implicit.test": nil,
		},
		host: map[string][]netip.Addr{"mx1.remote.test": {netip.MustParseAddr("127.0.0.1")}, "mx2.remote.test": {netip.MustParseAddr("127.0.0.9")},
			"implicit.test": {netip.MustParseAddr("127.0.0.1")}},
	}
	f := setup(t, d, dns, nil, p)
	f.q.Enqueue(ctx, "anna@posta.test", []string{"bob@remote.test", "x@nullmx.test", "y@nosuch.test", "z@implicit.test"}, []byte(msg), 0)
	f.q.Enqueue(ctx, "anna@posta.test", []string{"w@deadmx.test"}, []byte(msg), 0)
	f.r.RunOnce(ctx)
	if rc.got["bob@remote.test"] == nil || rc.got["z@implicit.test"] == nil {
		t.Fatalf("MX and implicit MX deliveries missing: %v", rc.got)
	}
	var failed []string
	for _, s := range f.dsn.got["anna@posta.test"] {
		for _, l := range strings.Split(s, "\r\n") {
			if strings.HasPrefix(l, "Final-Recipient:") || strings.HasPrefix(l, "Status:") {
				failed = append(failed, l)
			}
		}
	}
	if strings.Join(failed, "|") != "Final-Recipient: rfc822; x@nullmx.test|Status: 5.1.10|Final-Recipient: rfc822; y@nosuch.test|Status: 5.1.2" &&
		strings.Join(failed, "|") != "Final-Recipient: rfc822; y@nosuch.test|Status: 5.1.2|Final-Recipient: rfc822; x@nullmx.test|Status: 5.1.10" {
		t.Fatalf("failures: %v", failed)
	}
	// deadmx: no address for its MX, retried later; then held, released, deleted.
	list, _ := f.q.List(ctx, 10)
	if len(list) != 1 || list[0].To != "w@deadmx.test" || list[0].Attempts != 1 {
		t.Fatalf("queue: %+v", list)
	}
	id := list[0].ID
	if err := f.q.Hold(ctx, id, "checking"); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Hour)
	if n := f.r.RunOnce(ctx); n != 0 {
		t.Fatal("a held entry was tried")
	}
	if err := f.q.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	det, err := f.q.Show(ctx, id)
	if err != nil || det.Status != "queued" || len(det.Attempts) != 1 || !strings.Contains(det.Attempts[0].Response, "4.4.4") {
		t.Fatalf("show: %+v %v", det, err)
	}
	if err := f.q.Finish(ctx, id, "deleted", "deleted by the operator"); err != nil {
		t.Fatal(err)
	}
	if err := f.q.Hold(ctx, id, ""); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("hold of a deleted entry: %v", err)
	}
}

// A connection that delivered a round is kept for the next round to the same destination
// (after RSET); one the server dropped meanwhile is replaced; CloseIdle ends them with QUIT.
// Outcomes of a round are recorded before RunOnce returns.
func TestConnectionReuse(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		rc := startReceiver(t)
		f := setup(t, d, nil, map[string]string{"remote.test": rc.addr}, 0)
		send := func(to string) {
			t.Helper()
			if err := f.q.Enqueue(ctx, "anna@posta.test", []string{to}, []byte(strings.Replace(msg, "bob@", to, 1)), 0); err != nil {
				t.Fatal(err)
			}
			if n := f.r.RunOnce(ctx); n != 1 {
				t.Fatalf("%s: handled %d, want 1", to, n)
			}
			if n := f.count(t, `SELECT COUNT(*) FROM queue_log WHERE rcpt_to = '`+to+`' AND status = 'delivered'`); n != 1 {
				t.Fatalf("%s: not recorded as delivered when RunOnce returned", to)
			}
		}
		send("a@remote.test")
		send("b@remote.test")
		if n := rc.ln.accepted(); n != 1 {
			t.Errorf("two rounds took %d connections, want 1", n)
		}
		rc.ln.cut()
		send("c@remote.test")
		if n := rc.ln.accepted(); n != 2 {
			t.Errorf("after the server dropped the connection: %d connections, want 2", n)
		}
		f.r.CloseIdle(true)
		send("d@remote.test")
		f.r.CloseIdle(true)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if n := rc.ln.accepted(); n != 3 || rc.txs != 4 || rc.tls != 4 || len(rc.got) != 4 {
			t.Errorf("%d connections, %d transactions (%d over TLS), %d recipients; want 3, 4, 4, 4", n, rc.txs, rc.tls, len(rc.got))
		}
	})
}

// scriptedServer is a receiving server without PIPELINING, STARTTLS or anything but the
// basics, scripted line by line: it refuses the sender blocked@posta.test at MAIL and drops
// the connection without a word at the DATA of a message whose subject is "drop". It notes
// whether a client sent a command before the reply to the previous one.
type scriptedServer struct {
	mu        sync.Mutex
	addr      string
	got       []string // recipients of the messages accepted
	pipelined bool
}

func startScripted(t *testing.T) *scriptedServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &scriptedServer{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *scriptedServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { io.WriteString(c, line+"\r\n") }
	say("220 mx.remote.test ESMTP")
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if r.Buffered() > 0 {
			s.mu.Lock()
			s.pipelined = true
			s.mu.Unlock()
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			say("250-mx.remote.test\r\n250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:<BLOCKED@"):
			say("550 5.7.1 sender refused")
		case strings.HasPrefix(cmd, "MAIL"), strings.HasPrefix(cmd, "RSET"):
			rcpts = nil
			say("250 2.0.0 ok")
		case strings.HasPrefix(cmd, "RCPT TO:<"):
			rcpts = append(rcpts, strings.ToLower(strings.TrimSuffix(strings.TrimSpace(line)[len("RCPT TO:<"):], ">")))
			say("250 2.1.5 ok")
		case cmd == "DATA":
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			if strings.Contains(msg.String(), "Subject: drop") {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, rcpts...)
			s.mu.Unlock()
			say("250 2.0.0 queued")
		case cmd == "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("502 5.5.2 unknown command")
		}
	}
}

// A server without PIPELINING gets one command at a time. A sender it refuses at MAIL fails
// that message only, and the connection goes on; when the connection breaks, the message
// being sent and those after it are deferred at once with the reason.
func TestSessionWithoutPipelining(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		srv := startScripted(t)
		f := setup(t, d, nil, map[string]string{"remote.test": srv.addr}, 0)
		for _, m := range []struct{ from, to, subject string }{
			{"anna@posta.test", "one@remote.test", "first"},
			{"blocked@posta.test", "two@remote.test", "refused"},
			{"anna@posta.test", "three@remote.test", "third"},
			{"anna@posta.test", "four@remote.test", "drop"},
			{"anna@posta.test", "five@remote.test", "after the drop"},
		} {
			raw := "From: " + m.from + "\r\nTo: " + m.to + "\r\nSubject: " + m.subject + "\r\n\r\nbody\r\n"
			if err := f.q.Enqueue(ctx, m.from, []string{m.to}, []byte(raw), 0); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.r.RunOnce(ctx); n != 5 {
			t.Fatalf("handled %d, want 5", n)
		}
		f.r.CloseIdle(true)
		srv.mu.Lock()
		got, pipelined := strings.Join(srv.got, " "), srv.pipelined
		srv.mu.Unlock()
		if got != "one@remote.test three@remote.test" {
			t.Errorf("server accepted %q", got)
		}
		if pipelined {
			t.Error("commands were pipelined to a server that does not offer PIPELINING")
		}
		want := map[string]string{
			"one@remote.test":   "delivered",
			"two@remote.test":   "failed 550 sender refused",
			"three@remote.test": "delivered",
			"four@remote.test":  "queued 451",
			"five@remote.test":  "queued 451 lost before this message",
		}
		for to, w := range want {
			tr, err := f.q.Trace(ctx, to, 1)
			if err != nil || len(tr) != 1 || len(tr[0].Attempts) != 1 {
				t.Fatalf("%s: %+v %v", to, tr, err)
			}
			a := tr[0].Attempts[0]
			fields := strings.Fields(w)
			if tr[0].Status != fields[0] || len(fields) > 1 && fmt.Sprint(a.Code) != fields[1] || len(fields) > 2 && !strings.Contains(a.Response, strings.Join(fields[2:], " ")) {
				t.Errorf("%s: %s %d %q, want %s", to, tr[0].Status, a.Code, a.Response, w)
			}
		}
		if dsns := f.dsn.got["blocked@posta.test"]; len(dsns) != 1 || !strings.Contains(dsns[0], "Status: 5.7.1") {
			t.Errorf("DSNs to the refused sender: %q", dsns)
		}
	})
}

// Many messages for one destination go over several connections at once (one per 10
// messages, up to PerDomain), each message once.
func TestConnectionsPerDomain(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		rc := startReceiver(t)
		f := setupConfig(t, d, nil, outbound.Config{Routes: map[string]string{"remote.test": rc.addr}, PerDomain: 2})
		for i := range 25 {
			to := fmt.Sprintf("u%d@remote.test", i)
			if err := f.q.Enqueue(ctx, "anna@posta.test", []string{to}, []byte(strings.Replace(msg, "bob@remote.test", to, 1)), 0); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.r.RunOnce(ctx); n != 25 {
			t.Fatalf("handled %d, want 25", n)
		}
		f.r.CloseIdle(true)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if n := rc.ln.accepted(); n != 2 || rc.txs != 25 || len(rc.got) != 25 {
			t.Errorf("%d connections, %d transactions, %d recipients; want 2, 25, 25", n, rc.txs, len(rc.got))
		}
		if n := f.count(t, `SELECT COUNT(*) FROM queue_log WHERE status = 'delivered'`); n != 25 {
			t.Errorf("%d delivered in the log, want 25", n)
		}
	})
}
