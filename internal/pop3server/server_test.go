package pop3server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/certs"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

type fakeAuth struct{ accountID int64 }

func (f fakeAuth) Login(ctx context.Context, user, pass string) (int64, error) {
	switch {
	case user == "mario@x.test" && pass == "secret-pass":
		return f.accountID, nil
	case user == "nopop@x.test" && pass == "secret-pass":
		return 0, ErrNotAllowed
	}
	return 0, errors.New("invalid credentials")
}

type env struct {
	addr, tlsAddr string
	store         *mailstore.Store
	account       int64
	inbox         int64
	srv           *Server
}

func setup(t *testing.T, insecure bool, opts ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, dbtest.DSN(t, "sqlite"))
	b, _ := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: log})
	t.Cleanup(func() { st.Close() })
	var acc int64
	err := d.WriteTx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		cos, _ := tx.InsertID(ctx, `INSERT INTO cos (name, service_type, quota_bytes, features, protocols, created_at) VALUES ('c', 'custom', 1000000000, 1, 255, ?)`, now)
		ten, _ := tx.InsertID(ctx, `INSERT INTO tenants (name, contact_email, contract, status, created_at, updated_at) VALUES ('t', 'c@x.test', 'payg', 'active', ?, ?)`, now, now)
		dom, _ := tx.InsertID(ctx, `INSERT INTO domains (tenant_id, name, created_at) VALUES (?, 'x.test', ?)`, ten, now)
		var err error
		acc, err = tx.InsertID(ctx, `INSERT INTO accounts (tenant_id, domain_id, address, password_hash, cos_id, status, created_at, updated_at) VALUES (?, ?, 'mario@x.test', 'x', ?, 'active', ?, ?)`, ten, dom, cos, now, now)
		if err != nil {
			return err
		}
		return mailstore.CreateDefaultMailboxes(ctx, tx, acc)
	})
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := st.Mailbox(ctx, acc, "INBOX")
	for i, body := range []string{
		"Subject: one\r\n\r\nfirst\r\n.dotted line\r\n",
		"Subject: two\n\nbare LF line\nsecond line\nthird line\n",
		"Subject: three\r\n\r\nno final newline",
	} {
		if _, err := st.Append(ctx, acc, inbox.ID, []byte(body), 0, nil, time.Now().Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := certs.GenerateSelfSigned(cert, key, nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	cs, _ := certs.NewStore(cert, key)
	cfg := Config{Hostname: "mail.x.test", TLSConfig: cs.TLSConfig(), AllowInsecureAuth: insecure, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	srv := New(cfg, fakeAuth{acc}, st,
		auth.NewThrottle(auth.ThrottleConfig{FreeAttempts: 100}, nil))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	tln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ctx, ln, false)
	go srv.Serve(ctx, tln, true)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
	})
	return &env{addr: ln.Addr().String(), tlsAddr: tln.Addr().String(), store: st, account: acc, inbox: inbox.ID, srv: srv}
}

// client is a line-level POP3 test client.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string, implicitTLS bool) *client {
	t.Helper()
	var c net.Conn
	var err error
	if implicitTLS {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	cl.expect(`^\+OK`)
	return cl
}

func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

func (c *client) expect(re string) string {
	c.t.Helper()
	l := c.line()
	if !regexp.MustCompile(re).MatchString(l) {
		c.t.Fatalf("got %q, want %s", l, re)
	}
	return l
}

// cmd sends a command and checks the first line of the answer.
func (c *client) cmd(line, re string) string {
	c.t.Helper()
	fmt.Fprintf(c.conn, "%s\r\n", line)
	return c.expect(re)
}

// multi reads the lines of a multi-line answer up to the terminating dot.
func (c *client) multi() []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		if l == "." {
			return out
		}
		out = append(out, l)
	}
}

func (c *client) startTLS() {
	c.t.Helper()
	c.cmd("STLS", `^\+OK`)
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}

func TestPOP3Session(t *testing.T) {
	e := setup(t, false)
	c := dial(t, e.addr, false)
	c.cmd("CAPA", `^\+OK`)
	capa := strings.Join(c.multi(), " ")
	if !strings.Contains(capa, "STLS") || strings.Contains(capa, "USER") || !strings.Contains(capa, "UIDL") {
		t.Fatalf("CAPA before TLS: %s", capa)
	}
	c.cmd("USER mario@x.test", `^-ERR \[AUTH\] TLS required`)
	c.cmd("STAT", `^-ERR log in first`)
	c.startTLS()
	c.cmd("CAPA", `^\+OK`)
	if capa := strings.Join(c.multi(), " "); !strings.Contains(capa, "USER") || !strings.Contains(capa, "SASL PLAIN") || strings.Contains(capa, "STLS") {
		t.Fatalf("CAPA after TLS: %s", capa)
	}
	c.cmd("PASS x", `^-ERR send USER first`)
	c.cmd("USER mario@x.test", `^\+OK`)
	c.cmd("PASS wrong", `^-ERR \[AUTH\] authentication failed`)
	c.cmd("USER mario@x.test", `^\+OK`)
	c.cmd("PASS secret-pass", `^\+OK maildrop has 3 messages`)
	c.cmd("AUTH PLAIN", `^-ERR already logged in`)
	stat := c.cmd("STAT", `^\+OK 3 \d+$`)
	c.cmd("LIST", `^\+OK 3 messages`)
	list := c.multi()
	var total int64
	sizes := map[int]int64{}
	for _, l := range list {
		var n int
		var sz int64
		fmt.Sscanf(l, "%d %d", &n, &sz)
		sizes[n] = sz
		total += sz
	}
	if stat != fmt.Sprintf("+OK 3 %d", total) {
		t.Fatalf("STAT %q disagrees with LIST total %d", stat, total)
	}
	c.cmd("UIDL", `^\+OK`)
	uidl := c.multi()
	if len(uidl) != 3 || !regexp.MustCompile(`^1 \d+\.1$`).MatchString(uidl[0]) {
		t.Fatalf("UIDL %v", uidl)
	}
	c.cmd("UIDL 2", `^\+OK 2 \d+\.2$`)
	c.cmd("LIST 9", `^-ERR no such message`)
	c.cmd("LIST x", `^-ERR no such message`)
	// RETR: CRLF endings, dot-stuffing, the exact size LIST announced.
	for n, want := range map[int]string{
		1: "Subject: one\r\n\r\nfirst\r\n..dotted line\r\n",
		2: "Subject: two\r\n\r\nbare LF line\r\nsecond line\r\nthird line\r\n",
		3: "Subject: three\r\n\r\nno final newline\r\n",
	} {
		c.cmd(fmt.Sprintf("RETR %d", n), `^\+OK \d+ octets`)
		got := strings.Join(c.multi(), "\r\n") + "\r\n"
		if got != want {
			t.Errorf("RETR %d = %q, want %q", n, got, want)
		}
		unstuffed := strings.ReplaceAll(got, "\r\n..", "\r\n.")
		if int64(len(unstuffed)) != sizes[n] {
			t.Errorf("RETR %d: %d octets sent, LIST said %d", n, len(unstuffed), sizes[n])
		}
	}
	c.cmd("TOP 2 1", `^\+OK`)
	if got := c.multi(); strings.Join(got, "|") != "Subject: two||bare LF line" {
		t.Errorf("TOP 2 1 = %q", got)
	}
	c.cmd("TOP 1 0", `^\+OK`)
	if got := c.multi(); strings.Join(got, "|") != "Subject: one|" {
		t.Errorf("TOP 1 0 = %q", got)
	}
	c.cmd("TOP 1", `^-ERR usage`)
	c.cmd("DELE 1", `^\+OK`)
	c.cmd("DELE 1", `^-ERR message 1 already deleted`)
	c.cmd("RETR 1", `^-ERR message 1 already deleted`)
	c.cmd("STAT", `^\+OK 2 `)
	c.cmd("RSET", `^\+OK maildrop has 3 messages`)
	c.cmd("DELE 2", `^\+OK`)
	c.cmd("NOOP", `^\+OK`)
	c.cmd("FROB", `^-ERR unknown command`)
	c.cmd(strings.Repeat("A", 3000), `^-ERR line too long`)
	c.cmd("QUIT", `^\+OK .*\(2 messages left\)`)
	uids, _ := e.store.UIDs(context.Background(), e.inbox)
	if fmt.Sprint(uids) != "[1 3]" {
		t.Fatalf("after QUIT the INBOX holds %v, want [1 3]", uids)
	}
	if problems, _ := e.store.Verify(context.Background()); len(problems) > 0 {
		t.Fatal(problems)
	}
}

func TestPOP3AuthAndLocking(t *testing.T) {
	e := setup(t, true) // loopback may log in without TLS
	plain := base64.StdEncoding.EncodeToString([]byte("\x00mario@x.test\x00secret-pass"))
	c := dial(t, e.addr, false)
	c.cmd("AUTH PLAIN "+plain, `^\+OK maildrop has 3`)
	// A second session for the same account gets [IN-USE].
	c2 := dial(t, e.tlsAddr, true)
	c2.cmd("AUTH PLAIN", `^\+ $`)
	c2.cmd(plain, `^-ERR \[IN-USE\]`)
	c2.cmd("AUTH PLAIN *", `^-ERR authentication cancelled`)
	c2.cmd("AUTH CRAM-MD5", `^-ERR unsupported mechanism`)
	c2.cmd("AUTH PLAIN !!!", `^-ERR \[AUTH\] invalid base64`)
	c2.cmd("USER nopop@x.test", `^\+OK`)
	c2.cmd("PASS secret-pass", `^-ERR \[AUTH\] POP3 is not included`)
	// Deletions without QUIT are not applied.
	c.cmd("DELE 1", `^\+OK`)
	c.conn.Close()
	time.Sleep(100 * time.Millisecond)
	c3 := dial(t, e.addr, false)
	c3.cmd("USER mario@x.test", `^\+OK`)
	c3.cmd("PASS secret-pass", `^\+OK maildrop has 3 messages`)
	c3.cmd("QUIT", `^\+OK`)
	// Five failures close the connection.
	c4 := dial(t, e.addr, false)
	for i := 0; i < 4; i++ {
		c4.cmd("USER mario@x.test", `^\+OK`)
		c4.cmd("PASS nope", `^-ERR \[AUTH\]`)
	}
	c4.cmd("USER mario@x.test", `^\+OK`)
	c4.cmd("PASS nope", `closing`)
	c4.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c4.r.ReadString('\n'); err == nil {
		t.Fatal("connection still open after 5 failures")
	}
}

func TestPOP3ThrottleAndNoLeaks(t *testing.T) {
	e := setup(t, true)
	e.srv.th = auth.NewThrottle(auth.ThrottleConfig{FreeAttempts: 1, Base: time.Minute}, nil)
	c := dial(t, e.addr, false)
	c.cmd("USER mario@x.test", `^\+OK`)
	c.cmd("PASS nope", `^-ERR \[AUTH\]`)
	c.cmd("USER mario@x.test", `^\+OK`)
	c.cmd("PASS nope", `^-ERR \[AUTH\]`)
	c.cmd("USER mario@x.test", `^\+OK`)
	c.cmd("PASS secret-pass", `^-ERR \[SYS/TEMP\] too many failed logins`)
	c.conn.Close()
	// Clients that vanish mid-RETR or mid-command leave no goroutine behind.
	e.srv.th = auth.NewThrottle(auth.ThrottleConfig{}, nil)
	base := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		c := dial(t, e.addr, false)
		c.cmd("USER mario@x.test", `^\+OK`)
		c.cmd("PASS secret-pass", `^\+OK`)
		fmt.Fprintf(c.conn, "RETR 1\r\nRETR 2\r\n")
		c.conn.Close()
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		t.Fatalf("%d goroutines, started with %d", n, base)
	}
	uids, _ := e.store.UIDs(context.Background(), e.inbox)
	if len(uids) != 3 {
		t.Fatalf("messages lost: %v", uids)
	}
}

func FuzzSession(f *testing.F) {
	f.Add("USER a\r\nPASS b\r\nSTAT\r\nLIST\r\nQUIT\r\n")
	f.Add("AUTH PLAIN\r\n=\r\nTOP 1 -1\r\nDELE 0\r\nRETR 99999999999999999999\r\n")
	f.Add("CAPA\r\n\r\n \r\nUSER\r\n")
	ctx := context.Background()
	srv := New(Config{AllowInsecureAuth: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, fakeAuth{}, nil,
		auth.NewThrottle(auth.ThrottleConfig{}, nil))
	f.Fuzz(func(t *testing.T, input string) {
		// Only the unauthenticated state is reachable without a store; it must never panic.
		input = strings.ReplaceAll(input, "secret-pass", "x")
		server, client := net.Pipe()
		go func() {
			io.Copy(io.Discard, client)
		}()
		go func() {
			client.Write([]byte(input))
			client.Close()
		}()
		s := newSession(srv, server, "pop3", false)
		s.ip = netip.MustParseAddr("127.0.0.1")
		s.loopback = true
		s.serve(ctx)
	})
}
