package imapserver

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
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/certs"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
)

const pass = "secret-pass"

type fakeAuth struct{ ids map[string]int64 }

func (f fakeAuth) Login(ctx context.Context, user, pw string) (Account, error) {
	if user == "nomail@x.test" && pw == pass {
		return Account{}, ErrNotAllowed
	}
	if id, ok := f.ids[user]; ok && pw == pass {
		return Account{ID: id, Address: user, MaxMessageSize: 2000}, nil
	}
	return Account{}, errors.New("invalid credentials")
}

// SCRAMCredentials makes fakeAuth a SCRAMAuthenticator with the same password.
func (f fakeAuth) SCRAMCredentials(ctx context.Context, user string) (auth.SCRAMCredentials, error) {
	if _, ok := f.ids[user]; !ok {
		return auth.SCRAMCredentials{}, errors.New("no such user")
	}
	return auth.NewSCRAMCredentials(pass, 4096)
}

func (f fakeAuth) CompleteLogin(ctx context.Context, user string) (Account, error) {
	return Account{ID: f.ids[user], Address: user}, nil
}

type testEnv struct {
	addr, tlsAddr string
	store         *mailstore.Store
	srv           *Server
	accounts      map[string]int64
}

func setup(tb testing.TB, opts ...func(*Config)) *testEnv {
	tb.Helper()
	ctx := context.Background()
	d := dbtest.Open(tb, dbtest.DSN(tb, "sqlite"))
	b, err := blob.Open(filepath.Join(tb.TempDir(), "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: log})
	tb.Cleanup(func() { st.Close() })
	ids := map[string]int64{}
	err = d.WriteTx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		cos, _ := tx.InsertID(ctx, `INSERT INTO cos (name, service_type, quota_bytes, features, protocols, created_at) VALUES ('c', 'custom', 100000, 1, 255, ?)`, now)
		ten, _ := tx.InsertID(ctx, `INSERT INTO tenants (name, contact_email, contract, status, created_at, updated_at) VALUES ('t', 'c@x.test', 'payg', 'active', ?, ?)`, now, now)
		dom, _ := tx.InsertID(ctx, `INSERT INTO domains (tenant_id, name, created_at) VALUES (?, 'x.test', ?)`, ten, now)
		for _, a := range []string{"mario@x.test", "luigi@x.test"} {
			id, err := tx.InsertID(ctx, `INSERT INTO accounts (tenant_id, domain_id, address, password_hash, cos_id, status, created_at, updated_at) VALUES (?, ?, ?, 'x', ?, 'active', ?, ?)`, ten, dom, a, cos, now, now)
			if err != nil {
				return err
			}
			ids[a] = id
			if err := mailstore.CreateDefaultMailboxes(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if _, err := certs.EnsureSelfSigned(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), []string{"localhost"}); err != nil {
		tb.Fatal(err)
	}
	cs, err := certs.NewStore(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{Hostname: "imap.test", TLSConfig: cs.TLSConfig(), MaxMessageSize: 5000, AllowInsecureAuth: true, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	srv := New(cfg, fakeAuth{ids}, st, auth.NewThrottle(auth.ThrottleConfig{}, nil))
	e := &testEnv{store: st, srv: srv, accounts: ids}
	for _, implicit := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		if implicit {
			e.tlsAddr = ln.Addr().String()
		} else {
			e.addr = ln.Addr().String()
		}
		go srv.Serve(ctx, ln, implicit)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return e
}

// deliver puts a message into an account's mailbox as a delivery would.
func (e *testEnv) deliver(t testing.TB, account, mailbox, raw string) uint32 {
	t.Helper()
	ctx := context.Background()
	mb, err := e.store.Mailbox(ctx, e.accounts[account], mailbox)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.store.Append(ctx, e.accounts[account], mb.ID, []byte(raw), 0, nil, time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return res.UID
}

var literalAtEnd = regexp.MustCompile(`~?\{(\d+)\}$`)

// client is a line-level IMAP client.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	if g := cl.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
		t.Fatalf("greeting %q", g)
	}
	return cl
}

func (c *client) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	l = strings.TrimRight(l, "\r\n")
	// Read literals into the line so tests can match whole responses.
	for {
		if !strings.HasSuffix(l, "}") {
			return l
		}
		m := literalAtEnd.FindStringSubmatch(l)
		if m == nil {
			return l
		}
		var n int
		fmt.Sscan(m[1], &n)
		buf := make([]byte, n)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			c.t.Fatalf("literal: %v", err)
		}
		rest, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("after literal: %v", err)
		}
		l += "\r\n" + string(buf) + strings.TrimRight(rest, "\r\n")
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// do sends a command and returns the untagged lines and the tagged status line (without tag).
func (c *client) do(cmd string) ([]string, string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	c.send(tag + " " + cmd)
	var untagged []string
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged lines joined.
func (c *client) ok(cmd string) string {
	c.t.Helper()
	u, st := c.do(cmd)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", cmd, st, u)
	}
	return strings.Join(u, "\n") + "\n" + st
}

func login(t testing.TB, e *testEnv, user string) *client {
	c := dial(t, e.addr)
	c.ok("LOGIN " + user + " " + pass)
	return c
}

func msg(subject, body string) string {
	return "From: Anna Rossi <anna@example.org>\r\nTo: mario@x.test\r\nSubject: " + subject +
		"\r\nDate: Sun, 10 Mar 2024 12:00:00 +0100\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n\r\n" + body + "\r\n"
}

func TestLoginAndCapabilities(t *testing.T) {
	e := setup(t)
	tests := []struct{ cmd, want string }{
		{"CAPABILITY", `(?s)\* CAPABILITY IMAP4rev1 IMAP4rev2 .*IDLE.*STARTTLS AUTH=PLAIN.*\nOK`},
		{"LOGIN mario@x.test wrong", `^NO \[AUTHENTICATIONFAILED\]`},
		{"LOGIN nomail@x.test " + pass, `^NO \[NOPERM\] .*does not include IMAP`},
		{"SELECT INBOX", `^BAD Log in first`},
		{"FOO", `^BAD Unknown command`},
		{"LOGIN", `^BAD `},
		{"AUTHENTICATE PLAIN " + "AG1hcmlvQHgudGVzdABzZWNyZXQtcGFzcw==", `^OK \[CAPABILITY .*\] Logged in`},
		{"LOGIN mario@x.test " + pass, `^BAD Already authenticated`},
		{"NAMESPACE", `\* NAMESPACE \(\(\"\" \"/\"\)\) NIL NIL`},
		{"ID (\"name\" \"test\")", `\* ID \("name" "posta"`},
		{"ENABLE CONDSTORE UTF8=ACCEPT", `\* ENABLED CONDSTORE UTF8=ACCEPT`},
	}
	c := dial(t, e.addr)
	for _, tt := range tests {
		u, st := c.do(tt.cmd)
		got := strings.Join(append(u, st), "\n")
		if !regexp.MustCompile(tt.want).MatchString(got) {
			t.Errorf("%s:\n%s\nwant %s", tt.cmd, got, tt.want)
		}
	}
	u, st := c.do("LOGOUT")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* BYE") || !strings.HasPrefix(st, "OK") {
		t.Errorf("LOGOUT: %q %q", u, st)
	}
}

func TestAuthenticateSCRAM(t *testing.T) {
	e := setup(t)
	for _, tt := range []struct {
		pw, want string
	}{{pass, "OK [CAPABILITY"}, {"wrong-pass", "NO [AUTHENTICATIONFAILED]"}} {
		c := dial(t, e.addr)
		if caps := c.ok("CAPABILITY"); !strings.Contains(caps, "AUTH=SCRAM-SHA-256") {
			t.Fatalf("no SCRAM in %s", caps)
		}
		cl := auth.NewSCRAMClient("mario@x.test", tt.pw)
		_, ir, _ := cl.Start()
		c.send("a AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString(ir))
		var last string
		for i := 0; i < 4; i++ {
			l := c.line()
			if !strings.HasPrefix(l, "+ ") {
				last = l
				break
			}
			ch, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
			resp, err := cl.Next(ch)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			c.send(base64.StdEncoding.EncodeToString(resp))
		}
		if !strings.HasPrefix(last, "a "+tt.want) {
			t.Errorf("password %q: %q, want %q", tt.pw, last, tt.want)
		}
	}
}

// The protocol trace shows commands but never credentials or message content.
func TestTraceRedactsSecrets(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	e := setup(t, func(c *Config) {
		c.Trace = true
		c.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return buf.Write(p)
		}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := login(t, e, "mario@x.test")
	c2 := dial(t, e.addr)
	c2.ok("AUTHENTICATE PLAIN AG1hcmlvQHgudGVzdABzZWNyZXQtcGFzcw==")
	c.ok("APPEND INBOX {22+}\r\nSubject: top-secret\r\n\r\n")
	c.ok("NOOP")
	mu.Lock()
	defer mu.Unlock()
	log := buf.String()
	if !strings.Contains(log, "cmd=NOOP") || !strings.Contains(log, "cmd=LOGIN") {
		t.Fatalf("trace lacks commands:\n%s", log)
	}
	for _, secret := range []string{pass, "AG1hcmlv", "top-secret"} {
		if strings.Contains(log, secret) {
			t.Errorf("trace shows %q:\n%s", secret, log)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestLoginDisabledWithoutTLS(t *testing.T) {
	e := setup(t, func(c *Config) { c.AllowInsecureAuth = false })
	c := dial(t, e.addr)
	if caps := c.ok("CAPABILITY"); !strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "AUTH=PLAIN") {
		t.Fatalf("capabilities before TLS: %s", caps)
	}
	if _, st := c.do("LOGIN mario@x.test " + pass); !strings.HasPrefix(st, "NO [PRIVACYREQUIRED]") {
		t.Fatalf("LOGIN without TLS: %s", st)
	}
	c.ok("STARTTLS")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	if caps := c.ok("CAPABILITY"); strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "STARTTLS") {
		t.Fatalf("capabilities after TLS: %s", caps)
	}
	c.ok("LOGIN mario@x.test " + pass)
	// Implicit TLS.
	conn, err := tls.Dial("tcp", e.tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c2 := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := c2.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatal(g)
	}
	c2.ok("LOGIN mario@x.test " + pass)
}

func TestMailboxes(t *testing.T) {
	e := setup(t)
	c := login(t, e, "mario@x.test")
	steps := []struct{ cmd, want string }{
		{`CREATE "Posta in arrivo/Citt&AOA-"`, `^OK`},
		{`CREATE "Posta in arrivo"`, `^NO \[ALREADYEXISTS\]`},
		{`CREATE Projects (USE (\Archive))`, `^OK`},
		{`CREATE Bad (USE (\Important))`, `^NO \[USEATTR\]`},
		{`LIST "" *`, `(?s)\* LIST \(\\HasChildren\) "/" "Posta in arrivo".*\* LIST \(\\HasNoChildren\) "/" "Posta in arrivo/Citt&AOA-".*\* LIST \(\\HasNoChildren \\Archive\) "/" Projects`},
		{`LIST "" %`, `"Posta in arrivo"\n\* LIST \(\\HasNoChildren \\Archive\) "/" Projects`},
		{`LIST "" ""`, `\* LIST \(\\Noselect\) "/" ""`},
		{`LIST (SPECIAL-USE) "" *`, `Junk\n.*Projects\n.*Sent`},
		{`LIST "" "Posta*" RETURN (STATUS (MESSAGES UIDNEXT))`, `\* STATUS "Posta in arrivo/Citt&AOA-" \(MESSAGES 0 UIDNEXT 1\)`},
		{`RENAME "Posta in arrivo" Old`, `^OK`},
		{`LIST "" Old/*`, `\* LIST \(\\HasNoChildren\) "/" "?Old/Citt&AOA-"?`},
		{`RENAME Nope Other`, `^NO \[NONEXISTENT\]`},
		{`UNSUBSCRIBE Old`, `^OK`},
		{`LSUB "" O*`, `(?s)\* LSUB \(\) "/" "?Old/Citt&AOA-"?\n.*OK`},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" Old`, `\* LIST \(\\HasChildren\) "/" Old \("CHILDINFO" \("SUBSCRIBED"\)\)`},
		{`DELETE Old/Citt&AOA-`, `^OK`},
		{`DELETE INBOX`, `^NO \[CANNOT\]`},
		{`DELETE Nope`, `^NO \[NONEXISTENT\]`},
		{`STATUS INBOX (MESSAGES UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ APPENDLIMIT DELETED)`, `\* STATUS INBOX \(MESSAGES 0 UIDVALIDITY \d+ UNSEEN 0 SIZE 0 HIGHESTMODSEQ \d+ APPENDLIMIT 2000 DELETED 0\)`},
		{`STATUS INBOX (BOGUS)`, `^BAD`},
		{`GETQUOTAROOT INBOX`, `(?s)\* QUOTAROOT INBOX ""\n\* QUOTA "" \(STORAGE 0 97\)`},
		{`GETQUOTA "nope"`, `^NO \[NONEXISTENT\]`},
		{`SETQUOTA "" (STORAGE 1)`, `^NO \[NOPERM\]`},
	}
	for _, s := range steps {
		u, st := c.do(s.cmd)
		got := strings.Join(append(u, st), "\n")
		if !regexp.MustCompile(s.want).MatchString(got) {
			t.Errorf("%s:\n%s\nwant %s", s.cmd, got, s.want)
		}
	}
	// UTF8=ACCEPT: names travel as UTF-8.
	c.ok("ENABLE UTF8=ACCEPT")
	if got := c.ok(`LIST "" "Città*"`); got == "" {
		t.Fatal("no answer")
	}
	c.ok(`CREATE "Città"`)
	if got := c.ok(`LIST "" "Citt*"`); !strings.Contains(got, `"Città"`) {
		t.Errorf("UTF-8 LIST: %s", got)
	}
}

func TestAppendFetchStoreSearch(t *testing.T) {
	e := setup(t)
	c := login(t, e, "mario@x.test")
	body := msg("Hello world", "Un messaggio di prova con parola rarissima zibaldone.")
	u, st := c.do(fmt.Sprintf("APPEND INBOX (\\Seen $Work) \"10-Mar-2024 12:00:00 +0100\" {%d+}\r\n%s", len(body), body))
	if !strings.HasPrefix(st, "OK [APPENDUID ") {
		t.Fatalf("APPEND: %q %s", u, st)
	}
	// Synchronising literal: the server asks for it.
	c.n++
	second := msg("Second", "Un messaggio di prova con parola rarissima zibaldone.")
	c.send(fmt.Sprintf("t%d APPEND INBOX {%d}", c.n, len(second)))
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	c.send(second)
	if l := c.line(); !strings.HasPrefix(l, fmt.Sprintf("t%d OK [APPENDUID", c.n)) {
		t.Fatalf("APPEND 2: %q", l)
	}
	// Over the account's limit (2000): refused before the literal is sent.
	c.n++
	c.send(fmt.Sprintf("t%d APPEND INBOX {3000}", c.n))
	if l := c.line(); !strings.HasPrefix(l, fmt.Sprintf("t%d NO [TOOBIG]", c.n)) {
		t.Fatalf("too big: %q", l)
	}
	if _, st := c.do("APPEND Nowhere {3+}\r\nabc"); !strings.HasPrefix(st, "NO [TRYCREATE]") {
		t.Fatalf("APPEND to missing mailbox: %s", st)
	}
	multi := fmt.Sprintf("APPEND Drafts {%d+}\r\n%s {%d+}\r\n%s", len(body), body, len(body), body)
	if _, st := c.do(multi); !regexp.MustCompile(`^OK \[APPENDUID \d+ 1:2\]`).MatchString(st) {
		t.Fatalf("MULTIAPPEND: %s", st)
	}
	sel := c.ok("SELECT INBOX")
	for _, want := range []string{"* 2 EXISTS", "[UIDVALIDITY ", "[UIDNEXT 3]", "[PERMANENTFLAGS", "[HIGHESTMODSEQ ", "OK [READ-WRITE]"} {
		if !strings.Contains(sel, want) {
			t.Errorf("SELECT lacks %q:\n%s", want, sel)
		}
	}
	steps := []struct{ cmd, want string }{
		{`FETCH 1 (FLAGS UID RFC822.SIZE INTERNALDATE)`, `\* 1 FETCH \(UID 1 FLAGS \(\\Seen \$Work\) RFC822.SIZE \d+ INTERNALDATE "10-Mar-2024 11:00:00 \+0000"\)`},
		{`FETCH 1 ENVELOPE`, `ENVELOPE \("Sun, 10 Mar 2024 12:00:00 \+0100" "Hello world" \(\("Anna Rossi" NIL "anna" "example.org"\)\) \(\("Anna Rossi" NIL "anna" "example.org"\)\) \(\("Anna Rossi" NIL "anna" "example.org"\)\) \(\(NIL NIL "mario" "x.test"\)\) NIL NIL NIL "<Hello.world@example.org>"\)`},
		{`FETCH 1 BODYSTRUCTURE`, `BODYSTRUCTURE \("TEXT" "PLAIN" \("CHARSET" "us-ascii"\) NIL NIL "7BIT" \d+ \d+ NIL NIL NIL NIL\)`},
		{`FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])`, "BODY\\[HEADER.FIELDS \\(\"SUBJECT\"\\)\\] \\{\\d+\\}\r\nSubject: Hello world\r\n\r\n\\)"},
		{`FETCH 1 BODY.PEEK[TEXT]<3.10>`, "BODY\\[TEXT\\]<3> \\{10\\}\r\nmessaggio "},
		{`FETCH 2 (FLAGS)`, `\* 2 FETCH \(FLAGS \(\)\)`},
		{`FETCH 2 BODY[TEXT]`, `\* 2 FETCH \(FLAGS \(\\Seen\) BODY\[TEXT\]`},
		{`FETCH 3 FLAGS`, `^BAD Sequence number 3 does not exist`},
		{`UID FETCH 1:* (FLAGS)`, `(?s)\* 1 FETCH \(UID 1 FLAGS.*\* 2 FETCH \(UID 2 FLAGS`},
		{`UID FETCH 99 FLAGS`, `^OK`},
		{`FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])`, `BINARY\[1\] \{\d+\}`},
		{`FETCH 1 FOO`, `^BAD unknown FETCH item`},
		{`STORE 1 +FLAGS (\Flagged)`, `\* 1 FETCH \(FLAGS \(\\Seen \\Flagged \$Work\)\)`},
		{`STORE 1 -FLAGS.SILENT (\Flagged)`, `^OK`},
		{`UID STORE 2 FLAGS (\Deleted)`, `\* 2 FETCH \(FLAGS \(\\Deleted\) UID 2\)`},
		{`STORE 1 +FLAGS (\Recent)`, `^BAD`},
		{`SEARCH DELETED`, `\* SEARCH 2\n`},
		{`SEARCH TEXT zibaldone`, `\* SEARCH 1 2\n`},
		{`SEARCH BODY "rarissima ZIB"`, `\* SEARCH 1 2\n`},
		{`SEARCH SUBJECT second`, `\* SEARCH 2\n`},
		{`SEARCH FROM anna HEADER Message-ID "<Second@"`, `\* SEARCH 2\n`},
		{`SEARCH OR KEYWORD $Work DELETED NOT SINCE 1-Jan-2030`, `\* SEARCH 1 2\n`},
		{`SEARCH SENTON 10-Mar-2024 LARGER 10 SMALLER 100000`, `\* SEARCH 1 2\n`},
		{`UID SEARCH RETURN (MIN MAX COUNT) ALL`, `\* ESEARCH \(TAG "t\d+"\) UID MIN 1 MAX 2 COUNT 2`},
		{`SEARCH RETURN (SAVE) UNDELETED`, `^OK`},
		{`FETCH $ (UID)`, `\* 1 FETCH \(UID 1\)`},
		{`SEARCH CHARSET KOI8-R ALL`, `^NO \[BADCHARSET`},
		{`SEARCH FROMX a`, `^BAD`},
		{`SORT (REVERSE SUBJECT) UTF-8 ALL`, `\* SORT 2 1`},
		{`THREAD ORDEREDSUBJECT UTF-8 ALL`, `\* THREAD \(1\)\(2\)`},
		{`COPY 1:2 Archive`, `^OK \[COPYUID \d+ 1:2 1:2\]`},
		{`COPY 1 Nowhere`, `^NO \[TRYCREATE\]`},
		{`UID MOVE 1 Trash`, `(?s)\* OK \[COPYUID \d+ 1 1\].*\* 1 EXPUNGE`},
		{`EXPUNGE`, `\* 1 EXPUNGE`},
		{`FETCH 1 FLAGS`, `^BAD`},
		{`CHECK`, `^OK`},
		{`UNSELECT`, `^OK`},
		{`FETCH 1 FLAGS`, `^BAD Select a mailbox first`},
	}
	for _, s := range steps {
		u, st := c.do(s.cmd)
		got := strings.Join(append(u, st), "\n")
		if !regexp.MustCompile(s.want).MatchString(got) {
			t.Errorf("%s:\n%s\nwant %s", s.cmd, got, s.want)
		}
	}
	if got := c.ok("EXAMINE Archive"); !strings.Contains(got, "[READ-ONLY]") || !strings.Contains(got, "* 2 EXISTS") {
		t.Errorf("EXAMINE: %s", got)
	}
	if _, st := c.do("STORE 1 +FLAGS (\\Seen)"); !strings.HasPrefix(st, "NO [READ-ONLY]") {
		t.Errorf("STORE on EXAMINE: %s", st)
	}
}

func TestOverQuota(t *testing.T) {
	e := setup(t)
	c := login(t, e, "mario@x.test")
	big := msg("big", strings.Repeat("x", 1800))
	ctx := context.Background()
	inbox, _ := e.store.Mailbox(ctx, e.accounts["mario@x.test"], "INBOX")
	for i := 0; i < 80; i++ {
		if _, err := e.store.Append(ctx, e.accounts["mario@x.test"], inbox.ID, []byte(big), 0, nil, time.Now()); err != nil {
			break
		}
	}
	_, st := c.do(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(big), big))
	if !strings.HasPrefix(st, "NO [OVERQUOTA]") {
		t.Fatalf("APPEND over quota: %s", st)
	}
	c.ok("SELECT INBOX")
	if _, st := c.do("COPY 1:* Archive"); !strings.HasPrefix(st, "NO [OVERQUOTA]") {
		t.Fatalf("COPY over quota: %s", st)
	}
}

// Changes made by one session, or by a delivery, reach another session: at NOOP, and within
// IDLE at once.
func TestUpdatesAcrossSessions(t *testing.T) {
	e := setup(t)
	e.deliver(t, "mario@x.test", "INBOX", msg("one", "1"))
	e.deliver(t, "mario@x.test", "INBOX", msg("two", "2"))
	a := login(t, e, "mario@x.test")
	b := login(t, e, "mario@x.test")
	a.ok("SELECT INBOX")
	b.ok("ENABLE CONDSTORE")
	b.ok("SELECT INBOX")
	a.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
	if got := b.ok("NOOP"); !regexp.MustCompile(`\* 1 FETCH \(FLAGS \(\\Flagged\) UID 1 MODSEQ \(\d+\)\)`).MatchString(got) {
		t.Errorf("flag change not seen: %s", got)
	}
	// FETCH by sequence number must not see an EXPUNGE; the next NOOP does.
	a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	a.ok("EXPUNGE")
	if got := b.ok("FETCH 1:* (UID)"); strings.Contains(got, "EXPUNGE") || !strings.Contains(got, "* 2 FETCH (UID 2 MODSEQ") {
		t.Errorf("EXPUNGE during FETCH: %s", got)
	}
	if got := b.ok("NOOP"); !strings.Contains(got, "* 1 EXPUNGE") {
		t.Errorf("EXPUNGE not reported at NOOP: %s", got)
	}
	// IDLE: a delivery is announced while idling.
	b.n++
	b.send(fmt.Sprintf("t%d IDLE", b.n))
	if l := b.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	start := time.Now()
	e.deliver(t, "mario@x.test", "INBOX", msg("three", "3"))
	if l := b.line(); l != "* 2 EXISTS" {
		t.Fatalf("in IDLE got %q", l)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("EXISTS took %v", d)
	}
	b.send("DONE")
	if l := b.line(); !strings.HasPrefix(l, fmt.Sprintf("t%d OK", b.n)) {
		t.Fatalf("after DONE: %q", l)
	}
}

func TestQresync(t *testing.T) {
	e := setup(t)
	for i := 0; i < 5; i++ {
		e.deliver(t, "mario@x.test", "INBOX", msg(fmt.Sprintf("m%d", i), "x"))
	}
	a := login(t, e, "mario@x.test")
	sel := a.ok("SELECT INBOX")
	modseq := regexp.MustCompile(`HIGHESTMODSEQ (\d+)`).FindStringSubmatch(sel)[1]
	validity := regexp.MustCompile(`UIDVALIDITY (\d+)`).FindStringSubmatch(sel)[1]
	a.ok("STORE 2 +FLAGS (\\Seen)")
	a.ok("STORE 4 +FLAGS.SILENT (\\Deleted)")
	a.ok("EXPUNGE")
	b := login(t, e, "mario@x.test")
	b.ok("ENABLE QRESYNC")
	got := b.ok(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s 1:5))", validity, modseq))
	if !strings.Contains(got, "* VANISHED (EARLIER) 4") || !regexp.MustCompile(`\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ`).MatchString(got) {
		t.Errorf("QRESYNC select:\n%s", got)
	}
	got = b.ok(fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %s VANISHED)", modseq))
	if !strings.Contains(got, "* VANISHED (EARLIER) 4") || !strings.Contains(got, "UID 2") || strings.Contains(got, "UID 1 ") {
		t.Errorf("FETCH CHANGEDSINCE VANISHED:\n%s", got)
	}
	a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
	a.ok("EXPUNGE")
	if got := b.ok("NOOP"); !strings.Contains(got, "* VANISHED 1") {
		t.Errorf("VANISHED after expunge: %s", got)
	}
	if got := b.ok("STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)"); !strings.Contains(got, "[MODIFIED 1]") {
		t.Errorf("UNCHANGEDSINCE: %s", got)
	}
}

func TestSyntaxErrorsAndRobustness(t *testing.T) {
	e := setup(t)
	c := login(t, e, "mario@x.test")
	for _, bad := range []string{"SELECT", "SELECT INBOX extra", "LIST", `CREATE "unterminated`, "STATUS INBOX", "FETCH", "UID", "APPEND INBOX"} {
		if _, st := c.do(bad); !strings.HasPrefix(st, "BAD") {
			t.Errorf("%q: %s", bad, st)
		}
	}
	c.send("+plus NOOP")
	if l := c.line(); !strings.HasPrefix(l, "* BAD") {
		t.Errorf("bad tag: %q", l)
	}
	c.ok("NOOP")
	// Clients vanishing mid-literal, mid-IDLE or mid-FETCH leave nothing behind.
	base := runtime.NumGoroutine()
	for i := 0; i < 30; i++ {
		x := login(t, e, "mario@x.test")
		switch i % 3 {
		case 0:
			x.send("a APPEND INBOX {100+}\r\nhalf")
		case 1:
			x.ok("SELECT INBOX")
			x.send("b IDLE")
		case 2:
			x.ok("SELECT INBOX")
			x.send("c FETCH 1:* BODY[]")
		}
		x.conn.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for (runtime.NumGoroutine() > base+2 || e.srv.Sessions() > 1) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		t.Errorf("%d goroutines, started with %d", n, base)
	}
	if n := e.srv.Sessions(); n != 1 {
		t.Errorf("%d sessions open, want 1", n)
	}
}

func FuzzSession(f *testing.F) {
	f.Add("a LOGIN mario@x.test secret-pass\r\nb SELECT INBOX\r\nc FETCH 1:* (FLAGS BODY[])\r\nd LOGOUT\r\n")
	f.Add("a LOGIN mario@x.test secret-pass\r\nb SELECT INBOX\r\nc SEARCH OR TEXT a NOT UID 1:* SORT\r\nd UID STORE $ +FLAGS (x)\r\n")
	f.Add("a LOGIN mario@x.test secret-pass\r\nb APPEND INBOX (\\Seen) {5+}\r\nhello\r\nc LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES))\r\n")
	f.Add("a AUTHENTICATE PLAIN\r\n*\r\nb ID NIL\r\nc ENABLE QRESYNC\r\n")
	e := setup(f)
	e.deliver(f, "mario@x.test", "INBOX", msg("fuzz", "body"))
	f.Fuzz(func(t *testing.T, input string) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		go io.Copy(io.Discard, c)
		io.WriteString(c, input)
		time.Sleep(time.Millisecond)
		c.Close()
		// The server still serves.
		c2 := dial(t, e.addr)
		c2.ok("NOOP")
		c2.conn.Close()
	})
}

func TestThreadSortBinaryWithin(t *testing.T) {
	e := setup(t)
	raw := func(id, refs, subject, date string) string {
		h := "From: a@x.test\r\nSubject: " + subject + "\r\nDate: " + date + "\r\nMessage-ID: <" + id + ">\r\n"
		if refs != "" {
			h += "References: " + refs + "\r\nIn-Reply-To: " + refs[strings.LastIndex(refs, " ")+1:] + "\r\n"
		}
		return h + "\r\nbody\r\n"
	}
	// 1 root, 2 reply to 1, 3 unrelated, 4 reply to 2, 5 reply to a message we do not have.
	e.deliver(t, "mario@x.test", "INBOX", raw("1@x", "", "Plan", "Mon, 1 Jan 2024 10:00:00 +0000"))
	e.deliver(t, "mario@x.test", "INBOX", raw("2@x", "<1@x>", "Re: Plan", "Mon, 1 Jan 2024 11:00:00 +0000"))
	e.deliver(t, "mario@x.test", "INBOX", raw("3@x", "", "Other", "Mon, 1 Jan 2024 09:00:00 +0000"))
	e.deliver(t, "mario@x.test", "INBOX", raw("4@x", "<1@x> <2@x>", "Re: Plan", "Mon, 1 Jan 2024 12:00:00 +0000"))
	e.deliver(t, "mario@x.test", "INBOX", raw("5@x", "<gone@x>", "Re: Lost", "Mon, 1 Jan 2024 13:00:00 +0000"))
	att := "From: a@x.test\r\nSubject: att\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--b--\r\n"
	e.deliver(t, "mario@x.test", "INBOX", att)
	c := login(t, e, "mario@x.test")
	c.ok("SELECT INBOX")
	steps := []struct{ cmd, want string }{
		{"THREAD REFERENCES UTF-8 NOT SUBJECT att", `\* THREAD \(3\)\(1 2 4\)\(5\)`},
		// 6 has no Date: its arrival (March) sorts it last.
		{"UID THREAD ORDEREDSUBJECT UTF-8 ALL", `\* THREAD \(3\)\(1 \(2\)\(4\)\)\(5\)\(6\)`},
		{"SORT (DATE) UTF-8 NOT SUBJECT att", `\* SORT 3 1 2 4 5`},
		{"SORT (REVERSE DATE) UTF-8 ALL", `\* SORT 6 5 4 2 1 3`},
		{"SORT (ARRIVAL) UTF-8 ALL", `\* SORT 1 2 3 4 5 6`}, // equal arrival: sequence order
		{"SORT (SUBJECT SIZE) UTF-8 ALL", `\* SORT 6 5 3 1 2 4`},
		{"SEARCH OLDER 3600", `\* SEARCH 1 2 3 4 5 6`}, // arrived in March 2024
		{"SEARCH YOUNGER 3600", `\* SEARCH\n`},
		{"FETCH 6 (BINARY.SIZE[2] BINARY.PEEK[2])", "BINARY.SIZE\\[2\\] 5 BINARY\\[2\\] ~\\{5\\}\r\n\x00\x01\x02\x03\x04"},
		{"FETCH 6 BODY.PEEK[2.MIME]", "Content-Transfer-Encoding: base64"},
		{"FETCH 6 BODYSTRUCTURE", `BODYSTRUCTURE \(\("TEXT" "PLAIN" .*\)\("APPLICATION" "OCTET-STREAM" NIL NIL NIL "BASE64" 8 NIL NIL NIL NIL\) "MIXED" \("BOUNDARY" "b"\) NIL NIL NIL\)`},
	}
	for _, s := range steps {
		u, st := c.do(s.cmd)
		got := strings.Join(append(u, st), "\n")
		if !regexp.MustCompile(s.want).MatchString(got) {
			t.Errorf("%s:\n%q\nwant %s", s.cmd, got, s.want)
		}
	}
}

// The database evaluation of SEARCH and the matcher (used for keys the database cannot
// evaluate) must agree on every key they share.
func TestSearchPushdownAgreesWithMatcher(t *testing.T) {
	e := setup(t)
	for i := 0; i < 12; i++ {
		e.deliver(t, "mario@x.test", "INBOX", fmt.Sprintf("From: Person %d <p%d@example.org>\r\nTo: mario@x.test\r\nCc: c%d@example.org\r\nSubject: topic %d città\r\nDate: Sun, %d Mar 2024 12:00:00 +0000\r\nMessage-ID: <m%d@x>\r\n\r\nbody word%d common\r\n", i%3, i%3, i%2, i%4, 1+i, i, i))
	}
	c := login(t, e, "mario@x.test")
	c.ok("SELECT INBOX")
	c.ok(`STORE 1:4 +FLAGS (\Seen)`)
	c.ok(`STORE 3,5,7 +FLAGS (\Flagged $Work)`)
	c.ok(`STORE 2 +FLAGS (\Deleted \Answered \Draft)`)
	// A session of our own over the same mailbox, to call both evaluations directly.
	ctx := context.Background()
	mb, _ := e.store.Mailbox(ctx, e.accounts["mario@x.test"], "INBOX")
	runs, _ := e.store.UIDRuns(ctx, mb.ID)
	sess := &session{srv: e.srv, sel: &view{mb: mb, uids: uidListFromRuns(runs), saved: []uint32{3, 5, 7}}}
	keys := []string{"ALL", "SEEN", "UNSEEN FLAGGED", "OR DELETED KEYWORD $work", "NOT KEYWORD $Work", "UNKEYWORD $Work",
		"FROM p1@", "TO mario", "CC c1", "SUBJECT \"topic 2\"", "SUBJECT CITTÀ", "TEXT word7", "BODY common", "TEXT p2@example",
		"BEFORE 5-Mar-2024", "SENTBEFORE 5-Mar-2024", "SENTON 3-Mar-2024", "SENTSINCE 10-Mar-2024", "SINCE 1-Jan-2020", "ON 10-Mar-2024",
		"LARGER 200", "SMALLER 200", "UID 2:4,9", "2:3,11:*", "$", "NOT $", "OLDER 60", "YOUNGER 60", "MODSEQ 1", "ANSWERED DRAFT",
		"OR (SEEN FROM p0) (NOT SEEN SUBJECT \"topic 1\")", "NEW", "OLD", "RECENT"}
	for _, k := range keys {
		req, err := imapwire.NewParser([]byte(k)).Search()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if _, ok := sess.toCond(req.Key, time.Now()); !ok {
			t.Errorf("%s: not translated", k)
			continue
		}
		got, _, _, _, err := sess.hits(context.Background(), req) // the database, or the matcher where it must
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		rows, _, _, err := sess.searchRows(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var want []uint32
		for _, r := range rows {
			want = append(want, r.UID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SEARCH %s: database %v, matcher %v", k, got, want)
		}
	}
}

// TestSelectFirstUnseen: SELECT tells an IMAP4rev1 client the first unseen message
// (OK [UNSEEN n], a sequence number), and says nothing of it when every message is seen.
func TestSelectFirstUnseen(t *testing.T) {
	e := setup(t)
	for _, s := range []string{"uno", "due", "tre"} {
		e.deliver(t, "mario@x.test", "INBOX", msg(s, s))
	}
	c := login(t, e, "mario@x.test")
	c.ok("SELECT INBOX")
	c.ok("STORE 1 +FLAGS (\\Seen)")
	if out := c.ok("SELECT INBOX"); !strings.Contains(out, "OK [UNSEEN 2]") {
		t.Errorf("one seen, two not:\n%s", out)
	}
	c.ok("STORE 1:* +FLAGS (\\Seen)")
	if out := c.ok("SELECT INBOX"); strings.Contains(out, "UNSEEN") {
		t.Errorf("every message seen:\n%s", out)
	}
	c.ok("STORE 3 -FLAGS (\\Seen)")
	if out := c.ok("EXAMINE INBOX"); !strings.Contains(out, "OK [UNSEEN 3]") {
		t.Errorf("the last one unseen again:\n%s", out)
	}
}

// TestSearchBeyondASCII: SEARCH finds words beyond ASCII whatever their case, in a decoded
// header field and in the raw header block (TEXT), through the database.
func TestSearchBeyondASCII(t *testing.T) {
	e := setup(t)
	e.deliver(t, "mario@x.test", "INBOX", msg("Gita a Città di Castello", "corpo"))
	e.deliver(t, "mario@x.test", "INBOX", msg("Nulla", "niente"))
	c := login(t, e, "mario@x.test")
	c.ok("ENABLE UTF8=ACCEPT")
	c.ok("SELECT INBOX")
	for _, cmd := range []string{`UID SEARCH SUBJECT "CITTÀ DI"`, `UID SEARCH TEXT "CITTÀ DI"`, `UID SEARCH CHARSET UTF-8 SUBJECT "città"`} {
		if out := c.ok(cmd); !strings.Contains(out, "* SEARCH 1\n") {
			t.Errorf("%s:\n%s", cmd, out)
		}
	}
}
