package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// allowInsecureAuth turns on security.allow_insecure_auth in the installation's configuration
// (passwords over plain IMAP from loopback clients), before start.
func (in *install) allowInsecureAuth() {
	in.t.Helper()
	b, err := os.ReadFile(in.config)
	if err != nil {
		in.t.Fatal(err)
	}
	s := strings.Replace(string(b), "allow_insecure_auth = false", "allow_insecure_auth = true", 1)
	if s == string(b) {
		in.t.Fatal("allow_insecure_auth = false not found in " + in.config)
	}
	if err := os.WriteFile(in.config, []byte(s), 0o600); err != nil {
		in.t.Fatal(err)
	}
}

// certFile is the installation's TLS certificate chain (PEM), for clients that verify it.
func (in *install) certFile() string { return filepath.Join(in.dir, "data", "tls", "cert.pem") }

// runTool runs an external client with a deadline and returns its combined output.
func runTool(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", filepath.Base(name), timeout, err)
	}
	return string(out), err
}

// imapMessages are the four messages the imaplib scenario expects in INBOX, in this order.
func imapMessages(to string) []string {
	type m struct{ from, subject, id, refs, date, body string }
	ms := []m{
		{"Anna Neri <anna@example.org>", "Budget 2024", "m1", "", "Mon, 01 Jan 2024 10:00:00 +0000", "the quarterly budget is attached"},
		{"Bruno Blu <bruno@example.org>", "Re: Budget 2024", "m2", "<m1@example.org>", "Tue, 02 Jan 2024 10:00:00 +0000", "looks fine, approved"},
		{"Carla Rossi <carla@example.org>", "Alpaca pictures", "m3", "", "Wed, 03 Jan 2024 10:00:00 +0000", "zebra crossing and alpaca farm"},
		{"Anna Neri <anna@example.org>", "Re: Re: Budget 2024", "m4", "<m1@example.org> <m2@example.org>", "Thu, 04 Jan 2024 10:00:00 +0000", "one more change to the plan"},
	}
	var out []string
	for _, x := range ms {
		h := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\nDate: %s\r\n", x.from, to, x.subject, x.id, x.date)
		if x.refs != "" {
			f := strings.Fields(x.refs)
			h += fmt.Sprintf("In-Reply-To: %s\r\nReferences: %s\r\n", f[len(f)-1], x.refs)
		}
		out = append(out, h+"\r\n"+x.body+"\r\n")
	}
	return out
}

// TestIMAPWithPythonImaplib runs a broad imaplib session (testdata/imap_scenario.py: LOGIN,
// CAPABILITY, LIST, CREATE in modified UTF-7, SELECT, APPEND, FETCH, SEARCH, SORT, THREAD,
// STORE, COPY, UID MOVE, EXPUNGE, STATUS, GETQUOTAROOT, IDLE, LOGOUT) over IMAPS and over
// STARTTLS, each with its own account; the script checks every answer's values.
func TestIMAPWithPythonImaplib(t *testing.T) {
	py := needTool(t, "python3")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	tests := []struct {
		mode string
		port int
		user string
	}{
		{"ssl", portIMAPS, "alice@acme.test"},
		{"starttls", portIMAP, "bob@acme.test"},
	}
	for _, tt := range tests {
		for _, msg := range imapMessages(tt.user) {
			if err := sendPlain(in.addr(portSMTP), "x@example.org", tt.user, msg); err != nil {
				t.Fatal(err)
			}
		}
		out, err := runTool(t, 90*time.Second, nil, py, "testdata/imap_scenario.py", tt.mode,
			fmt.Sprint(tt.port+in.offset), fmt.Sprint(portSMTP+in.offset), tt.user, testPW)
		if err != nil || strings.TrimSpace(out) != "ok" {
			t.Errorf("imaplib over %s: %v\n%s", tt.mode, err, out)
		}
	}
	// What the scenario left, as stored: INBOX 3 (2 kept and the IDLE wake-up), the mailbox
	// named in modified UTF-7 3 under its decoded name, Archive 1.
	for _, user := range []string{"alice@acme.test", "bob@acme.test"} {
		for box, want := range map[string]int{"INBOX": 3, "Posta in arrivo/Città": 3, "Archive": 1} {
			n := in.count(`SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id JOIN accounts a ON a.id = x.account_id WHERE a.address = ? AND x.name = ?`, user, box)
			if n != want {
				t.Errorf("%s: %d messages in %q, want %d", user, n, box, want)
			}
		}
	}
	in.stop()
	in.mustRun("store", "verify")
}

// imapConn is a line-level IMAP client for the tests that need many connections or exact
// control of the bytes.
type imapConn struct {
	t   testing.TB
	c   net.Conn
	r   *bufio.Reader
	tag int
}

func dialIMAP(t testing.TB, addr string, tlsConfig *tls.Config) (*imapConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil {
		c = tls.Client(c, tlsConfig)
	}
	ic := &imapConn{t: t, c: c, r: bufio.NewReader(c)}
	line, err := ic.readLine(10 * time.Second)
	if err != nil {
		c.Close()
		return nil, err
	}
	if !strings.HasPrefix(line, "* OK") {
		c.Close()
		return nil, fmt.Errorf("greeting %q", line)
	}
	return ic, nil
}

func (ic *imapConn) readLine(timeout time.Duration) (string, error) {
	ic.c.SetReadDeadline(time.Now().Add(timeout))
	line, err := ic.r.ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// send writes raw protocol text, within 10 s.
func (ic *imapConn) send(format string, args ...any) error {
	ic.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := fmt.Fprintf(ic.c, format, args...)
	return err
}

// cmd sends one command and returns the untagged lines and the tagged status line.
func (ic *imapConn) cmd(format string, args ...any) (untagged []string, status string, err error) {
	ic.tag++
	tag := fmt.Sprintf("T%d", ic.tag)
	if err := ic.send(tag+" "+format+"\r\n", args...); err != nil {
		return nil, "", err
	}
	for {
		line, err := ic.readLine(30 * time.Second)
		if err != nil {
			return untagged, "", err
		}
		if strings.HasPrefix(line, tag+" ") {
			return untagged, strings.TrimPrefix(line, tag+" "), nil
		}
		untagged = append(untagged, line)
	}
}

// mustCmd is cmd that must answer OK.
func (ic *imapConn) mustCmd(format string, args ...any) []string {
	ic.t.Helper()
	u, st, err := ic.cmd(format, args...)
	if err != nil || !strings.HasPrefix(st, "OK") {
		ic.t.Fatalf("%s: %v %q\n%s", fmt.Sprintf(format, args...), err, st, strings.Join(u, "\n"))
	}
	return u
}

func (ic *imapConn) close() { ic.c.Close() }

// TestIMAPWithCurl lists, fetches by UID and by sequence number, searches, uploads (APPEND)
// and expunges with curl's IMAP support over IMAPS.
func TestIMAPWithCurl(t *testing.T) {
	curl := needTool(t, "curl")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	var sent []string
	for i, word := range []string{"kiwi", "mango", "papaya"} {
		msg := fmt.Sprintf("From: x@example.org\r\nTo: alice@acme.test\r\nSubject: fruit %d\r\nMessage-ID: <curl-%d@example.org>\r\n\r\nToday: %s.\r\nLine two.\r\n", i+1, i+1, word)
		if err := sendPlain(in.addr(portSMTP), "x@example.org", "alice@acme.test", msg); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, msg)
	}
	base := "imaps://" + in.addr(portIMAPS)
	c := func(args ...string) (string, error) {
		t.Helper()
		return runTool(t, 30*time.Second, nil, curl, append([]string{"-sS", "-k", "--max-time", "20", "-u", "alice@acme.test:" + testPW}, args...)...)
	}
	mustC := func(args ...string) string {
		t.Helper()
		out, err := c(args...)
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return out
	}
	listing := "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n* LIST (\\HasNoChildren) \"/\" INBOX\r\n" +
		"* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n"
	// The stored message is what was sent, with Return-Path and Received prepended.
	stored := regexp.MustCompile(`^Return-Path: <x@example\.org>\r\nReceived: from [^\r]+\r\n(\t[^\r]+\r\n)+`)
	tests := []struct {
		name string
		args []string
		want string // the whole output, or a suffix for messages (checked with stored)
		msg  bool
	}{
		{"top-level list", []string{base + "/"}, listing, false},
		{"list INBOX", []string{base + "/INBOX"}, "* LIST (\\HasNoChildren) \"/\" INBOX\r\n", false},
		{"fetch UID 2", []string{base + "/INBOX;UID=2"}, sent[1], true},
		{"fetch by sequence number", []string{base + "/INBOX;MAILINDEX=3"}, sent[2], true},
		{"header section", []string{base + "/INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)"}, "Subject: fruit 1\r\n\r\n", false},
		{"text section", []string{base + "/INBOX;UID=3;SECTION=TEXT"}, "Today: papaya.\r\nLine two.\r\n", false},
		{"custom SEARCH", []string{base + "/INBOX", "-X", "SEARCH TEXT mango"}, "* SEARCH 2\r\n", false},
		{"SEARCH in another case", []string{base + "/INBOX", "-X", "SEARCH BODY MANGO"}, "* SEARCH 2\r\n", false},
		{"SEARCH of words together", []string{base + "/INBOX", "-X", `SEARCH BODY "today: KIWI"`}, "* SEARCH 1\r\n", false},
		{"SEARCH of words apart", []string{base + "/INBOX", "-X", `SEARCH BODY "kiwi today"`}, "* SEARCH\r\n", false},
		{"URL search", []string{base + "/INBOX?SUBJECT%20fruit"}, "* SEARCH 1 2 3\r\n", false},
		{"URL search, no match", []string{base + "/INBOX?TEXT%20durian"}, "* SEARCH\r\n", false},
		{"STATUS", []string{base + "/", "-X", "STATUS INBOX (MESSAGES UIDNEXT)"}, "* STATUS INBOX (MESSAGES 3 UIDNEXT 4)\r\n", false},
	}
	for _, tt := range tests {
		out, err := c(tt.args...)
		switch {
		case err != nil:
			t.Errorf("%s: %v\n%s", tt.name, err, out)
		case tt.msg && (!stored.MatchString(out) || stored.ReplaceAllString(out, "") != tt.want):
			t.Errorf("%s: got\n%q\nwant the stored form of\n%q", tt.name, out, tt.want)
		case !tt.msg && out != tt.want:
			t.Errorf("%s: got %q, want %q", tt.name, out, tt.want)
		}
	}
	// APPEND with -T, then fetch it back byte for byte.
	up := "From: alice@acme.test\r\nTo: bob@acme.test\r\nSubject: draft via curl\r\n\r\nUploaded: é and ü\r\n"
	mustC("-T", writeFile(t, in.dir, "up.eml", up), base+"/Drafts")
	if got := mustC(base + "/Drafts;UID=1"); got != up {
		t.Errorf("uploaded draft comes back as %q, want %q", got, up)
	}
	// Expunge the first message: UID 3 is now sequence number 2, and UIDs still address it.
	mustC(base+"/INBOX", "-X", `STORE 1 +FLAGS (\Deleted)`)
	mustC(base+"/INBOX", "-X", "EXPUNGE")
	for _, u := range []string{base + "/INBOX;UID=3", base + "/INBOX;MAILINDEX=2"} {
		if got := mustC(u); stored.ReplaceAllString(got, "") != sent[2] {
			t.Errorf("%s after expunging UID 1: %q", u, got)
		}
	}
	// An expunged UID is curl's "remote file not found" (78).
	if out, err := c(base + "/INBOX;UID=1"); !isExit(err, 78) {
		t.Errorf("fetching expunged UID 1: %v (want exit 78)\n%s", err, out)
	}
	// A wrong password is curl's "login denied" (67).
	out, err := runTool(t, 30*time.Second, nil, curl, "-sS", "-k", "--max-time", "20", "-u", "alice@acme.test:wrong", base+"/INBOX")
	if !isExit(err, 67) {
		t.Errorf("wrong password: %v (want exit 67)\n%s", err, out)
	}
	if n := in.inbox("alice@acme.test"); n != 2 {
		t.Errorf("%d messages in INBOX, want 2", n)
	}
}

// isExit reports whether err is an exit with the given status.
func isExit(err error, code int) bool {
	ee, ok := err.(*exec.ExitError)
	return ok && ee.ExitCode() == code
}

// pyIMAP runs a python imaplib snippet after logging in as user over IMAPS: M is the session,
// ok() asserts an OK answer and returns its data. It returns the script's output.
func pyIMAP(t *testing.T, in *install, user, body string) string {
	t.Helper()
	py := needTool(t, "python3")
	script := fmt.Sprintf(`
import imaplib, ssl, socket
socket.setdefaulttimeout(20)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def ok(res):
    assert res[0] == "OK", res
    return res[1]
M = imaplib.IMAP4_SSL("127.0.0.1", %d, ssl_context=ctx)
ok(M.login(%q, %q))
`, portIMAPS+in.offset, user, testPW) + body + "\nM.logout()\n"
	out, err := runTool(t, 60*time.Second, nil, py, "-c", script)
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	return out
}

// maildirMessages maps the Subject of every message in a Maildir folder to its file name.
func maildirMessages(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, sub, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`(?m)^Subject: (.*?)\r?$`).FindSubmatch(b)
			if m == nil {
				t.Fatalf("%s has no Subject", p)
			}
			if prev, dup := out[string(m[1])]; dup {
				t.Fatalf("%q twice: %s and %s", m[1], prev, p)
			}
			out[string(m[1])] = p
		}
	}
	return out
}

// maildirFlags returns the flag letters of a Maildir file name ("" when it has none).
func maildirFlags(name string) string {
	if i := strings.LastIndex(filepath.Base(name), ":2,"); i >= 0 {
		return filepath.Base(name)[i+3:]
	}
	return ""
}

// TestIMAPWithMbsync syncs 200 messages both ways with mbsync (isync) over IMAPS, verifying
// posta's certificate: flags set on either side and local deletions must reach the other side.
func TestIMAPWithMbsync(t *testing.T) {
	mbsync := needTool(t, "mbsync")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	const n = 200
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: x@example.org\r\nTo: alice@acme.test\r\nSubject: sync %03d\r\nMessage-ID: <sync-%d@example.org>\r\n\r\nmessage number %d\r\n", i, i, i)
		if err := sendPlain(in.addr(portSMTP), "x@example.org", "alice@acme.test", msg); err != nil {
			t.Fatal(err)
		}
	}
	// AuthMechs PLAIN here; TestIMAPSCRAM runs mbsync with its default choice, SCRAM-SHA-256.
	home := t.TempDir()
	mail := filepath.Join(home, "mail")
	if err := os.Mkdir(mail, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := writeFile(t, home, "mbsyncrc", fmt.Sprintf(`IMAPAccount posta
Host 127.0.0.1
Port %d
User alice@acme.test
Pass %s
SSLType IMAPS
CertificateFile %s
SystemCertificates no
AuthMechs PLAIN
Timeout 20

IMAPStore remote
Account posta

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel posta
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
`, portIMAPS+in.offset, testPW, in.certFile(), mail, mail))
	sync := func(round string) {
		t.Helper()
		out, err := runTool(t, 90*time.Second, []string{"HOME=" + home}, mbsync, "-c", rc, "-a")
		if err != nil {
			t.Fatalf("mbsync (%s): %v\n%s", round, err, out)
		}
	}
	sync("first")
	local := maildirMessages(t, filepath.Join(mail, "INBOX"))
	if len(local) != n {
		t.Fatalf("first sync: %d messages in the local INBOX, want %d", len(local), n)
	}
	for _, box := range []string{"Archive", "Drafts", "Junk", "Sent", "Trash"} {
		if _, err := os.Stat(filepath.Join(mail, box, "cur")); err != nil {
			t.Errorf("first sync did not create the local %s: %v", box, err)
		}
	}
	// The local copy is the server's message with LF line ends and mbsync's X-TUID field.
	b, err := os.ReadFile(local["sync 042"])
	if err != nil {
		t.Fatal(err)
	}
	server := pyIMAP(t, in, "alice@acme.test", `
ok(M.select("INBOX", True))
import sys; sys.stdout.buffer.write(ok(M.uid("FETCH", "43", "(BODY.PEEK[])"))[0][1])
`)
	copied := strings.ReplaceAll(regexp.MustCompile(`(?m)^X-TUID: .*\n`).ReplaceAllString(string(b), ""), "\n", "\r\n")
	if copied != server || !strings.HasSuffix(server, "Subject: sync 042\r\nMessage-ID: <sync-42@example.org>\r\n\r\nmessage number 42\r\n") {
		t.Fatalf("local copy of message 42:\n%q\nserver:\n%q", b, server)
	}
	// Locally: 0-9 seen (the S flag in the file name, moved to cur/), 190-194 deleted.
	for i := 0; i < 10; i++ {
		p := local[fmt.Sprintf("sync %03d", i)]
		base := filepath.Base(p)
		if j := strings.Index(base, ":2,"); j >= 0 {
			base = base[:j]
		}
		if err := os.Rename(p, filepath.Join(mail, "INBOX", "cur", base+":2,S")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 190; i < 195; i++ {
		if err := os.Remove(local[fmt.Sprintf("sync %03d", i)]); err != nil {
			t.Fatal(err)
		}
	}
	// On the server: 100-109 (UIDs 101-110) flagged by another client.
	pyIMAP(t, in, "alice@acme.test", `
ok(M.select("INBOX"))
ok(M.uid("STORE", "101:110", "+FLAGS.SILENT", r"(\Flagged)"))
`)
	sync("second")
	out := pyIMAP(t, in, "alice@acme.test", `
print("exists", ok(M.select("INBOX"))[0].decode())
for crit in ["SEEN", "FLAGGED", "DELETED"]:
    print(crit, ok(M.uid("SEARCH", None, crit))[0].decode())
print("gone", ok(M.uid("SEARCH", None, "UID 191:195"))[0].decode())
`)
	want := "exists 195\nSEEN 1 2 3 4 5 6 7 8 9 10\nFLAGGED 101 102 103 104 105 106 107 108 109 110\nDELETED \ngone \n"
	if out != want {
		t.Errorf("server after the second sync:\n%s\nwant\n%s", out, want)
	}
	if got := in.inbox("alice@acme.test"); got != n-5 {
		t.Errorf("server INBOX has %d messages, want %d", got, n-5)
	}
	local = maildirMessages(t, filepath.Join(mail, "INBOX"))
	if len(local) != n-5 {
		t.Errorf("second sync: %d local messages, want %d", len(local), n-5)
	}
	for subj, p := range local {
		var i int
		fmt.Sscanf(subj, "sync %d", &i)
		want := ""
		switch {
		case i < 10:
			want = "S"
		case i >= 100 && i < 110:
			want = "F"
		}
		if got := maildirFlags(p); got != want {
			t.Errorf("%s: local flags %q, want %q (%s)", subj, got, want, filepath.Base(p))
		}
	}
	// A third round: a message written locally is uploaded, a folder created locally is
	// created on the server (Create Both), a new delivery comes down.
	writeFile(t, filepath.Join(mail, "Drafts", "new"), "1700000000.1_1.local", "From: alice@acme.test\r\nTo: bob@acme.test\r\nSubject: local draft\r\n\r\nwritten offline\r\n")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(mail, "Projects", "Q3", sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(mail, "Projects", "Q3", "cur"), "1700000000.2_1.local:2,S", "From: alice@acme.test\r\nSubject: plan\r\n\r\nthe plan\r\n")
	if err := sendPlain(in.addr(portSMTP), "x@example.org", "alice@acme.test", "From: x@example.org\r\nTo: alice@acme.test\r\nSubject: sync late\r\n\r\nlate\r\n"); err != nil {
		t.Fatal(err)
	}
	sync("third")
	if _, ok := maildirMessages(t, filepath.Join(mail, "INBOX"))["sync late"]; !ok {
		t.Error("third sync: the new delivery did not come down")
	}
	out = pyIMAP(t, in, "alice@acme.test", `
print(ok(M.status("Projects/Q3", "(MESSAGES UNSEEN)"))[0].decode())
ok(M.select("Drafts"))
print(ok(M.uid("FETCH", "1:*", "(BODY.PEEK[])"))[0][1].decode(), end="")
`)
	status, out, _ := strings.Cut(out, "\n")
	if status != "Projects/Q3 (MESSAGES 1 UNSEEN 0)" {
		t.Errorf("third sync: the locally created folder on the server: %q", status)
	}
	// mbsync marks what it uploads with an X-TUID field to find it again.
	if !regexp.MustCompile(`^From: alice@acme\.test\r\nTo: bob@acme\.test\r\nSubject: local draft\r\nX-TUID: \S+\r\n\r\nwritten offline\r\n$`).MatchString(out) {
		t.Errorf("third sync: the local draft on the server is %q", out)
	}
	in.stop()
	in.mustRun("store", "verify")
}

// scramLogin runs AUTHENTICATE SCRAM-SHA-256 (RFC 5802, RFC 7677) with the given gs2 header
// ("n,," or "n,a=AUTHZID,"), written here from the RFC rather than taken from posta. It
// returns the tagged status line.
func scramLogin(ic *imapConn, gs2, user, pass string) (string, error) {
	nonce := make([]byte, 18)
	rand.Read(nonce)
	bare := "n=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user) + ",r=" + base64.RawStdEncoding.EncodeToString(nonce)
	ic.tag++
	tag := fmt.Sprintf("T%d", ic.tag)
	ic.send("%s AUTHENTICATE SCRAM-SHA-256 %s\r\n", tag, base64.StdEncoding.EncodeToString([]byte(gs2+bare)))
	line, err := ic.readLine(10 * time.Second)
	if err != nil || !strings.HasPrefix(line, "+ ") {
		return line, err
	}
	first, err := base64.StdEncoding.DecodeString(line[2:])
	if err != nil {
		return line, err
	}
	attrs := map[string]string{}
	for _, kv := range strings.Split(string(first), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			attrs[k] = v
		}
	}
	salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
	iter, _ := strconv.Atoi(attrs["i"])
	if !strings.HasPrefix(attrs["r"], base64.RawStdEncoding.EncodeToString(nonce)) || len(salt) == 0 || iter < 4096 {
		return "", fmt.Errorf("bad server-first message %q", first)
	}
	mac := func(key []byte, s string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(s))
		return h.Sum(nil)
	}
	salted, err := pbkdf2.Key(sha256.New, pass, salt, iter, 32)
	if err != nil {
		return "", err
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	final := "c=" + base64.StdEncoding.EncodeToString([]byte(gs2)) + ",r=" + attrs["r"]
	authMsg := bare + "," + string(first) + "," + final
	sig := mac(storedKey[:], authMsg)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	ic.send("%s\r\n", base64.StdEncoding.EncodeToString([]byte(final+",p="+base64.StdEncoding.EncodeToString(clientKey))))
	line, err = ic.readLine(10 * time.Second)
	if err != nil || !strings.HasPrefix(line, "+ ") {
		return line, err
	}
	want := "v=" + base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), authMsg))
	if got, _ := base64.StdEncoding.DecodeString(line[2:]); string(got) != want {
		return "", fmt.Errorf("server signature %q, want %q", got, want)
	}
	ic.send("\r\n")
	return ic.readLine(10 * time.Second)
}

// TestIMAPSCRAM logs in with SCRAM-SHA-256 over IMAPS with a client written from RFC 5802,
// and with mbsync's default mechanism choice (cyrus-sasl's SCRAM, which sends an authzid).
func TestIMAPSCRAM(t *testing.T) {
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	login := func(gs2, pass string) string {
		t.Helper()
		ic, err := dialIMAP(t, in.addr(portIMAPS), in.tlsConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer ic.close()
		st, err := scramLogin(ic, gs2, "alice@acme.test", pass)
		if err != nil {
			t.Fatalf("SCRAM with %q: %v (%q)", gs2, err, st)
		}
		return st
	}
	t.Run("no authzid", func(t *testing.T) {
		if st := login("n,,", testPW); !strings.HasPrefix(st, "T1 OK ") {
			t.Errorf("SCRAM login: %q", st)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		if st := login("n,,", "Wrong-Horse-42"); st != "T1 NO [AUTHENTICATIONFAILED] Authentication failed" {
			t.Errorf("SCRAM with a wrong password: %q", st)
		}
	})
	t.Run("authzid equal to the user", func(t *testing.T) {
		if st := login("n,a=alice@acme.test,", testPW); !strings.HasPrefix(st, "T1 OK ") {
			t.Errorf("SCRAM login with authzid: %q", st)
		}
	})
	t.Run("mbsync default mechanisms", func(t *testing.T) {
		mbsync := needTool(t, "mbsync")
		home := t.TempDir()
		rc := writeFile(t, home, "mbsyncrc", fmt.Sprintf("IMAPAccount posta\nHost 127.0.0.1\nPort %d\nUser alice@acme.test\nPass %s\nSSLType IMAPS\nCertificateFile %s\nSystemCertificates no\nTimeout 20\n\n"+
			"IMAPStore remote\nAccount posta\n\nMaildirStore local\nPath %s/\n\nChannel posta\nFar :remote:\nNear :local:\nPatterns *\n",
			portIMAPS+in.offset, testPW, in.certFile(), home))
		out, err := runTool(t, 60*time.Second, []string{"HOME=" + home}, mbsync, "-c", rc, "-l", "posta")
		if err != nil || !strings.Contains(out, "INBOX") {
			t.Errorf("mbsync -l with SCRAM: %v\n%s", err, out)
		}
	})
}

// certFingerprint is the SHA-512 fingerprint (lower-case hex) of the installation's server
// certificate, as offlineimap's cert_fingerprint wants it.
func (in *install) certFingerprint() string {
	in.t.Helper()
	b, err := os.ReadFile(in.certFile())
	if err != nil {
		in.t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		in.t.Fatal("no PEM block in " + in.certFile())
	}
	sum := sha512.Sum512(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

// TestIMAPWithOfflineimap syncs a 50-message INBOX into a local Maildir with offlineimap over
// IMAPS (pinned by certificate fingerprint), then propagates a local flag and a local
// deletion back.
func TestIMAPWithOfflineimap(t *testing.T) {
	oi := needTool(t, "offlineimap")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	const n = 50
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: x@example.org\r\nTo: bob@acme.test\r\nSubject: oi %02d\r\nMessage-ID: <oi-%d@example.org>\r\n\r\nofflineimap body %d\r\nsecond line\r\n", i, i, i)
		if err := sendPlain(in.addr(portSMTP), "x@example.org", "bob@acme.test", msg); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	mail := filepath.Join(home, "mail")
	rc := writeFile(t, home, "offlineimaprc", fmt.Sprintf(`[general]
accounts = posta
metadata = %s/meta
ui = basic

[Account posta]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = %d
remoteuser = bob@acme.test
remotepass = %s
ssl = yes
cert_fingerprint = %s
folderfilter = lambda f: f in ['INBOX', 'Archive']
`, home, mail, portIMAPS+in.offset, testPW, in.certFingerprint()))
	sync := func(round string) {
		t.Helper()
		out, err := runTool(t, 90*time.Second, []string{"HOME=" + home}, oi, "-c", rc, "-o")
		if err != nil || strings.Contains(out, "ERROR") {
			t.Fatalf("offlineimap (%s): %v\n%s", round, err, out)
		}
	}
	sync("first")
	local := maildirMessages(t, filepath.Join(mail, "INBOX"))
	if len(local) != n {
		t.Fatalf("%d messages in the local INBOX, want %d", len(local), n)
	}
	if _, err := os.Stat(filepath.Join(mail, "Archive", "cur")); err != nil {
		t.Errorf("Archive not created locally: %v", err)
	}
	b, err := os.ReadFile(local["oi 17"])
	if err != nil {
		t.Fatal(err)
	}
	server := pyIMAP(t, in, "bob@acme.test", `
ok(M.select("INBOX", True))
import sys; sys.stdout.buffer.write(ok(M.uid("FETCH", "18", "(BODY.PEEK[])"))[0][1])
`)
	if !strings.HasSuffix(server, "Subject: oi 17\r\nMessage-ID: <oi-17@example.org>\r\n\r\nofflineimap body 17\r\nsecond line\r\n") ||
		strings.ReplaceAll(string(b), "\r\n", "\n") != strings.ReplaceAll(server, "\r\n", "\n") {
		t.Fatalf("local copy of message 17:\n%q\nserver:\n%q", b, server)
	}
	// Locally: message 3 seen, message 4 deleted.
	p := local["oi 03"]
	if err := os.Rename(p, filepath.Join(mail, "INBOX", "cur", strings.SplitN(filepath.Base(p), ":2,", 2)[0]+":2,S")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(local["oi 04"]); err != nil {
		t.Fatal(err)
	}
	sync("second")
	out := pyIMAP(t, in, "bob@acme.test", `
print("exists", ok(M.select("INBOX"))[0].decode())
print("seen", ok(M.uid("SEARCH", None, "SEEN"))[0].decode())
print("uid 5", ok(M.uid("SEARCH", None, "UID 5"))[0].decode())
`)
	if want := "exists 49\nseen 4\nuid 5 \n"; out != want {
		t.Errorf("server after the second sync:\n%s\nwant\n%s", out, want)
	}
}

// TestIMAPWithMutt uses mutt twice: in batch mode to send through submission (STARTTLS) with
// the Fcc copy saved to the IMAP Sent folder, and on a pseudo-terminal (script) with pushed
// keys to tag messages by subject, save them to Archive and expunge them from INBOX.
func TestIMAPWithMutt(t *testing.T) {
	mutt := needTool(t, "mutt")
	script := needTool(t, "script")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	for i, subj := range []string{"invoice 1", "lunch", "invoice 2", "holidays", "invoice 3"} {
		msg := fmt.Sprintf("From: x@example.org\r\nTo: alice@acme.test\r\nSubject: %s\r\nMessage-ID: <mutt-%d@example.org>\r\n\r\nabout %s\r\n", subj, i, subj)
		if err := sendPlain(in.addr(portSMTP), "x@example.org", "alice@acme.test", msg); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	folder := fmt.Sprintf("imaps://alice@acme.test@%s/", in.addr(portIMAPS))
	muttrc := func(extra string) string {
		return writeFile(t, home, "muttrc", fmt.Sprintf(`set folder="%s"
set imap_pass="%s"
set certificate_file="%s"
set ssl_verify_host=no
set spoolfile="+INBOX"
set record="+Sent"
set from="alice@acme.test"
set realname="Alice"
set smtp_url="smtp://alice@acme.test@%s/"
set smtp_pass="%s"
set ssl_starttls=yes
set header_cache=""
set message_cachedir=""
set delete=yes
set confirmappend=no
set quit=yes
set move=no
set wait_key=no
set imap_idle=no
%s
`, folder, testPW, in.certFile(), in.addr(portSubmission), testPW, extra))
	}
	env := []string{"HOME=" + home, "TERM=xterm", "COLUMNS=100", "LINES=30"}
	t.Run("batch send with IMAP Fcc", func(t *testing.T) {
		rc := muttrc(`set imap_authenticators="plain"`)
		body := writeFile(t, home, "body.txt", "sent by mutt in batch mode\n")
		out, err := runTool(t, 60*time.Second, env, "/bin/sh", "-c", fmt.Sprintf("%s -n -F %s -s 'from mutt' bob@acme.test < %s", mutt, rc, body))
		if err != nil || strings.Contains(out, "failed") {
			t.Fatalf("mutt batch: %v\n%s", err, out)
		}
		if n := in.count(`SELECT COUNT(*) FROM messages JOIN blob_meta USING (blob_id) WHERE subject = 'from mutt'`); n != 2 {
			t.Errorf("'from mutt' stored %d times, want 2 (bob's INBOX and alice's Sent)", n)
		}
		if n := in.count(`SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id JOIN accounts a ON a.id = x.account_id JOIN blob_meta bm ON bm.blob_id = m.blob_id WHERE a.address = 'alice@acme.test' AND x.name = 'Sent' AND bm.subject = 'from mutt'`); n != 1 {
			t.Errorf("alice's Sent has %d copies, want 1", n)
		}
	})
	t.Run("tag, save to Archive, expunge", func(t *testing.T) {
		rc := muttrc(`set imap_authenticators="plain"`)
		keys := `<tag-pattern>~s invoice<enter><tag-prefix><save-message>=Archive<enter><sync-mailbox><quit>`
		cmd := fmt.Sprintf(`%s -n -F %s -f %sINBOX -e 'push "%s"'`, mutt, rc, folder, keys)
		out, err := runTool(t, 60*time.Second, env, script, "-qec", cmd, "/dev/null")
		if err != nil {
			t.Fatalf("mutt on a pty: %v\n%s", err, lastLines(out, 20))
		}
		out = pyIMAP(t, in, "alice@acme.test", `
for box in ["INBOX", "Archive"]:
    ok(M.select(box, True))
    dat = ok(M.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    print(box, sorted(d[1].decode().strip() for d in dat if isinstance(d, tuple)))
`)
		want := "INBOX ['Subject: holidays', 'Subject: lunch']\nArchive ['Subject: invoice 1', 'Subject: invoice 2', 'Subject: invoice 3']\n"
		if out != want {
			t.Errorf("after mutt:\n%s\nwant\n%s", out, want)
		}
	})
	t.Run("default authenticators", func(t *testing.T) {
		rc := muttrc("")
		body := writeFile(t, home, "body2.txt", "default authenticators\n")
		out, err := runTool(t, 60*time.Second, env, "/bin/sh", "-c", fmt.Sprintf("%s -n -F %s -s 'mutt default auth' bob@acme.test < %s", mutt, rc, body))
		if err != nil || strings.Contains(out, "failed") {
			t.Errorf("mutt batch with the default authenticators: %v\n%s", err, out)
		}
		if n := in.count(`SELECT COUNT(*) FROM messages JOIN blob_meta USING (blob_id) WHERE subject = 'mutt default auth'`); n != 2 {
			t.Errorf("'mutt default auth' stored %d times, want 2 (bob's INBOX and alice's Sent)", n)
		}
	})
}

// TestRetrievalWithFetchmailAndGetmail retrieves mail with fetchmail (POP3S, IMAPS) and
// getmail (POP3S into a Maildir, IMAPS into an mboxrd file): first keeping it on the server,
// then deleting it, which must leave the server's INBOX empty.
func TestRetrievalWithFetchmailAndGetmail(t *testing.T) {
	in := newInstall(t)
	mailSetup(t, in)
	in.addAccounts("Acme", "Business Mail 100 MB", "r1@acme.test", "r2@acme.test", "r3@acme.test", "r4@acme.test")
	in.start()
	const n = 6
	tests := []struct {
		tool, proto, user, dest string
		port                    int
	}{
		{"fetchmail", "POP3", "r1@acme.test", "files", portPOP3S},
		{"fetchmail", "IMAP", "r2@acme.test", "files", portIMAPS},
		{"getmail", "POP3", "r3@acme.test", "Maildir", portPOP3S},
		{"getmail", "IMAP", "r4@acme.test", "Mboxrd", portIMAPS},
	}
	for _, tt := range tests {
		t.Run(tt.tool+" "+tt.proto, func(t *testing.T) {
			bin := needTool(t, tt.tool)
			for i := 0; i < n; i++ {
				msg := fmt.Sprintf("From: x@example.org\r\nTo: %s\r\nSubject: retrieve %d\r\n\r\nbody %d\r\nFrom the desk of x\r\n.leading dot\r\n", tt.user, i, i)
				if err := sendPlain(in.addr(portSMTP), "x@example.org", tt.user, msg); err != nil {
					t.Fatal(err)
				}
			}
			// A directory the delivering user can write: getmail refuses to deliver as root
			// and is then told to deliver as nobody.
			dir, err := os.MkdirTemp("", "posta-retrieve-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			os.Chmod(dir, 0o777)
			home := t.TempDir()
			var fetch func(keep bool)
			var retrieved func() []string
			switch tt.tool {
			case "fetchmail":
				rc := writeFile(t, home, "fetchmailrc", fmt.Sprintf(`set no bouncemail
poll 127.0.0.1 protocol %s port %d auth password
  user "%s" password "%s" is "x" here
  ssl no sslcertck
  mda "/bin/sh -c 'cat > %s/msg.$$'"
`, tt.proto, tt.port+in.offset, tt.user, testPW, dir))
				fetch = func(keep bool) {
					args := []string{"-f", rc, "--nodetach", "--silent", "--all"}
					if keep {
						args = append(args, "--keep")
					}
					out, err := runTool(t, 60*time.Second, []string{"HOME=" + home}, bin, args...)
					if err != nil {
						t.Fatalf("fetchmail %v: %v\n%s", args, err, out)
					}
				}
				retrieved = func() []string {
					var msgs []string
					files, _ := filepath.Glob(filepath.Join(dir, "msg.*"))
					for _, f := range files {
						b, _ := os.ReadFile(f)
						msgs = append(msgs, string(b))
					}
					return msgs
				}
			case "getmail":
				dest := filepath.Join(dir, "Maildir") + "/"
				if tt.dest == "Mboxrd" {
					dest = filepath.Join(dir, "mbox")
					writeFile(t, dir, "mbox", "")
					os.Chmod(dest, 0o666)
				} else {
					for _, sub := range []string{"cur", "new", "tmp"} {
						os.MkdirAll(filepath.Join(dest, sub), 0o777)
						os.Chmod(filepath.Join(dest, sub), 0o777)
					}
					os.Chmod(dest, 0o777)
				}
				user := ""
				if os.Geteuid() == 0 {
					user = "user = nobody"
				}
				retriever := map[string]string{"POP3": "SimplePOP3SSLRetriever", "IMAP": "SimpleIMAPSSLRetriever\nmailboxes = (\"INBOX\",)"}[tt.proto]
				fetch = func(keep bool) {
					rc := writeFile(t, home, "getmailrc", fmt.Sprintf(`[retriever]
type = %s
server = 127.0.0.1
port = %d
username = %s
password = %s
ca_certs = %s
ssl_cert_hostname = mail.example.test

[destination]
type = %s
path = %s
%s

[options]
read_all = true
delete = %t
`, retriever, tt.port+in.offset, tt.user, testPW, in.certFile(), tt.dest, dest, user, !keep))
					out, err := runTool(t, 60*time.Second, nil, bin, "--getmaildir", home, "--rcfile", rc)
					if err != nil || strings.Contains(out, "error") {
						t.Fatalf("getmail (keep %v): %v\n%s", keep, err, out)
					}
				}
				retrieved = func() []string {
					if tt.dest == "Mboxrd" {
						b, _ := os.ReadFile(dest)
						parts := regexp.MustCompile(`(?m)^From `).Split(string(b), -1)
						return parts[1:]
					}
					var msgs []string
					files, _ := filepath.Glob(filepath.Join(dest, "new", "*"))
					for _, f := range files {
						b, _ := os.ReadFile(f)
						msgs = append(msgs, string(b))
					}
					return msgs
				}
			}
			fetch(true)
			if got, left := len(retrieved()), in.inbox(tt.user); got != n || left != n {
				t.Fatalf("keeping: retrieved %d, the server keeps %d; want %d and %d", got, left, n, n)
			}
			fetch(false)
			msgs := retrieved()
			if left := in.inbox(tt.user); len(msgs) != 2*n || left != 0 {
				t.Fatalf("deleting: retrieved %d in all, the server keeps %d; want %d and 0", len(msgs), left, 2*n)
			}
			// Every message arrived whole: dot-stuffing undone, mboxrd's From quoting applied.
			from := "\nFrom the desk of x\n"
			if tt.dest == "Mboxrd" {
				from = "\n>From the desk of x\n"
			}
			for _, m := range msgs {
				m = strings.ReplaceAll(m, "\r\n", "\n")
				if !regexp.MustCompile(`Subject: retrieve \d\n(X-getmail-retrieved-from-mailbox: INBOX\n)?\nbody \d\n`).MatchString(m) || !strings.Contains(m, from) || !strings.Contains(m, "\n.leading dot\n") {
					t.Errorf("retrieved message damaged:\n%q", m)
					break
				}
			}
		})
	}
	in.stop()
	in.mustRun("store", "verify")
}

// syncBuffer is a goroutine-safe log of the raw IMAP traffic of an imapclient session.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestIMAPCondstoreQresync checks CONDSTORE (RFC 7162 §3.1) with go-imap's imapclient:
// MODSEQ in FETCH, CHANGEDSINCE, conditional STORE with UNCHANGEDSINCE; and QRESYNC (§3.2),
// which imapclient does not speak, with the line-level client: SELECT (QRESYNC ...) with and
// without known UIDs, UID FETCH (CHANGEDSINCE ... VANISHED), VANISHED instead of EXPUNGE.
func TestIMAPCondstoreQresync(t *testing.T) {
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	for i := 1; i <= 5; i++ {
		if err := sendPlain(in.addr(portSMTP), "x@example.org", "alice@acme.test", fmt.Sprintf("From: x@example.org\r\nSubject: cs %d\r\n\r\nbody\r\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	var expunged []uint32
	var mu sync.Mutex
	wire := &syncBuffer{}
	dial := func(handler *imapclient.UnilateralDataHandler, debug io.Writer) *imapclient.Client {
		t.Helper()
		c, err := imapclient.DialTLS(in.addr(portIMAPS), &imapclient.Options{TLSConfig: in.tlsConfig(), UnilateralDataHandler: handler, DebugWriter: debug,
			Dialer: &net.Dialer{Timeout: 10 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		// imapclient has no command timeouts: closing the connection ends any wait.
		watchdog := time.AfterFunc(60*time.Second, func() { c.Close() })
		t.Cleanup(func() { watchdog.Stop(); c.Close() })
		if err := c.Login("alice@acme.test", testPW).Wait(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := dial(&imapclient.UnilateralDataHandler{Expunge: func(seq uint32) { mu.Lock(); expunged = append(expunged, seq); mu.Unlock() }}, wire)
	if caps := a.Caps(); !caps.Has(imap.CapCondStore) || !caps.Has(imap.CapQResync) {
		t.Fatalf("capabilities %v", caps)
	}
	sel, err := a.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	h0 := sel.HighestModSeq
	if sel.NumMessages != 5 || h0 == 0 {
		t.Fatalf("SELECT (CONDSTORE): %d messages, HIGHESTMODSEQ %d", sel.NumMessages, h0)
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	msgs, err := a.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil || len(msgs) != 5 {
		t.Fatalf("FETCH MODSEQ: %v, %d messages", err, len(msgs))
	}
	var maxSeq uint64
	for _, m := range msgs {
		if m.ModSeq == 0 || m.ModSeq > h0 {
			t.Errorf("UID %d: MODSEQ %d (HIGHESTMODSEQ %d)", m.UID, m.ModSeq, h0)
		}
		maxSeq = max(maxSeq, m.ModSeq)
	}
	if maxSeq != h0 {
		t.Errorf("largest MODSEQ %d, HIGHESTMODSEQ %d", maxSeq, h0)
	}
	// A STORE answers with the new MODSEQ; CHANGEDSINCE then returns exactly that message.
	res, err := a.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	if err != nil || len(res) != 1 || res[0].ModSeq <= h0 {
		t.Fatalf("STORE: %v %+v", err, res)
	}
	h1 := res[0].ModSeq
	changed, err := a.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true, ChangedSince: h0}).Collect()
	if err != nil || len(changed) != 1 || changed[0].UID != 2 || changed[0].ModSeq != h1 {
		t.Fatalf("FETCH (CHANGEDSINCE %d): %v %+v", h0, err, changed)
	}
	// Conditional STORE: UID 3 is unchanged since h0 and gets \Flagged; UID 2 changed and is
	// reported in MODIFIED, its flags untouched.
	if _, err := a.Store(imap.UIDSetNum(2, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}, Silent: true}, &imap.StoreOptions{UnchangedSince: h0}).Collect(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\S+ OK \[MODIFIED 2\]`).MatchString(wire.String()) {
		t.Errorf("conditional STORE: no [MODIFIED 2] in\n%s", lastLines(wire.String(), 6))
	}
	msgs, err = a.Fetch(imap.UIDSetNum(2, 3), &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatal(err, len(msgs))
	}
	if fmt.Sprint(msgs[0].Flags) != `[\Seen]` || fmt.Sprint(msgs[1].Flags) != `[\Flagged]` || msgs[1].ModSeq <= h1 {
		t.Errorf("after the conditional STORE: UID 2 %v, UID 3 %v (MODSEQ %d, want > %d)", msgs[0].Flags, msgs[1].Flags, msgs[1].ModSeq, h1)
	}
	// Another session expunges UID 4; the first hears EXPUNGE 4 at its next command.
	b := dial(nil, nil)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Store(imap.UIDSetNum(4), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UIDExpunge(imap.UIDSetNum(4)).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if fmt.Sprint(expunged) != "[4]" {
		t.Errorf("unilateral EXPUNGE: %v, want [4]", expunged)
	}
	mu.Unlock()
	st, err := b.Status("INBOX", &imap.StatusOptions{NumMessages: true, HighestModSeq: true}).Wait()
	if err != nil || *st.NumMessages != 4 || st.HighestModSeq <= h1 {
		t.Fatalf("STATUS: %v %+v", err, st)
	}

	// QRESYNC on the line-level client.
	q, err := dialIMAP(t, in.addr(portIMAPS), in.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	q.mustCmd(`LOGIN alice@acme.test %s`, testPW)
	if u := q.mustCmd("ENABLE QRESYNC"); strings.Join(u, "\n") != "* ENABLED QRESYNC" {
		t.Errorf("ENABLE QRESYNC: %q", u)
	}
	fetchRE := regexp.MustCompile(`^\* \d+ FETCH \((.*)\)$`)
	// summary keeps the VANISHED lines and the FETCH items of the untagged answers, in order.
	summary := func(lines []string) string {
		var out []string
		for _, l := range lines {
			if strings.HasPrefix(l, "* VANISHED") {
				out = append(out, l[2:])
			} else if m := fetchRE.FindStringSubmatch(l); m != nil {
				out = append(out, regexp.MustCompile(`MODSEQ \(\d+\)`).ReplaceAllString(m[1], "MODSEQ"))
			}
		}
		return strings.Join(out, "\n")
	}
	fetch := func(lines []string) []string {
		sort.Strings(lines)
		return lines
	}
	qtests := []struct {
		name, cmd, want string
	}{
		{"SELECT (QRESYNC) from h0", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", sel.UIDValidity, h0),
			"VANISHED (EARLIER) 4\nUID 2 FLAGS (\\Seen) MODSEQ\nUID 3 FLAGS (\\Flagged) MODSEQ"},
		{"SELECT (QRESYNC) with known UIDs", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d 1:3))", sel.UIDValidity, h0),
			"UID 2 FLAGS (\\Seen) MODSEQ\nUID 3 FLAGS (\\Flagged) MODSEQ"},
		{"SELECT (QRESYNC) up to date", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", sel.UIDValidity, st.HighestModSeq), ""},
		{"SELECT (QRESYNC) with another UIDVALIDITY", fmt.Sprintf("SELECT INBOX (QRESYNC (%d %d))", sel.UIDValidity+1, h0), ""},
		{"UID FETCH (CHANGEDSINCE VANISHED)", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)", h0),
			"VANISHED (EARLIER) 4\nUID 2 FLAGS (\\Seen) MODSEQ\nUID 3 FLAGS (\\Flagged) MODSEQ"},
		{"UID FETCH (CHANGEDSINCE) h1", fmt.Sprintf("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", h1),
			"UID 3 FLAGS (\\Flagged) MODSEQ"},
	}
	for i, tt := range qtests {
		u, status, err := q.cmd("%s", tt.cmd)
		if err != nil || !strings.HasPrefix(status, "OK") {
			t.Errorf("%s: %v %q", tt.name, err, status)
			continue
		}
		// Reselecting closes the previous mailbox first (RFC 7162 §3.2.11).
		if strings.HasPrefix(tt.cmd, "SELECT") && i > 0 && (len(u) == 0 || !strings.HasPrefix(u[0], "* OK [CLOSED]")) {
			t.Errorf("%s: the first answer is not OK [CLOSED]: %q", tt.name, u)
		}
		got := summary(u)
		if got != tt.want {
			t.Errorf("%s:\n%s\nwant\n%s\n(all: %q)", tt.name, got, tt.want, fetch(u))
		}
	}
	// With QRESYNC enabled, an expunge by another session arrives as VANISHED, not EXPUNGE.
	if err := b.Store(imap.UIDSetNum(5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	u := q.mustCmd("NOOP")
	var got []string
	for _, l := range u {
		if strings.Contains(l, "VANISHED") || strings.Contains(l, "EXPUNGE") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != "* VANISHED 5" {
		t.Errorf("expunge seen by the QRESYNC session: %q", u)
	}
}

// pid is the running posta's process id.
func (in *install) pid() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil || in.cmd.Process == nil {
		in.t.Fatal("posta is not running")
	}
	return in.cmd.Process.Pid
}

// procStatus reads one "Name: value kB"-style field of /proc/PID/status, in bytes for kB.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + field + `:\s+(\d+)( kB)?$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	if len(m[2]) > 0 {
		n *= 1024
	}
	return n
}

// openFiles counts a process's open file descriptors: all of them, and the sockets.
func openFiles(t *testing.T, pid int) (files, sockets int) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return len(fds), sockets
}

// needOpenFiles makes sure this process may open n files (Go raises the soft limit to the
// hard one at start; posta, a Go program too, does the same for itself).
func needOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < n && rl.Max >= n {
		rl.Cur = n
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
	}
	if rl.Cur < n {
		t.Skipf("open-file limit %d (hard %d) is below the %d this test needs", rl.Cur, rl.Max, n)
	}
}

// TestIMAPIdleAtScale keeps 1000 sessions in IDLE on one INBOX (plain IMAP on loopback), makes
// one SMTP delivery and requires every session to be told "* 1 EXISTS" within 10 s; then each
// ends IDLE with DONE and gets its tagged OK. The latencies are logged.
func TestIMAPIdleAtScale(t *testing.T) {
	const sessions = 1000
	needOpenFiles(t, 2*sessions+500)
	in := newInstall(t)
	mailSetup(t, in)
	in.addAccounts("Acme", "Business Mail 100 MB", "idle@acme.test")
	in.allowInsecureAuth()
	in.start()
	conns := make([]*imapConn, sessions)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	})
	setupStart := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	next := make(chan int, sessions)
	for i := 0; i < sessions; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := dialIMAP(t, in.addr(portIMAP), nil)
				if err != nil {
					errs <- fmt.Errorf("session %d: %w", i, err)
					return
				}
				conns[i] = c
				if _, st, err := c.cmd("LOGIN idle@acme.test %s", testPW); err != nil || !strings.HasPrefix(st, "OK") {
					errs <- fmt.Errorf("session %d LOGIN: %v %q", i, err, st)
					return
				}
				if u, st, err := c.cmd("SELECT INBOX"); err != nil || !strings.HasPrefix(st, "OK") || !slices.Contains(u, "* 0 EXISTS") {
					errs <- fmt.Errorf("session %d SELECT: %v %q %q", i, err, st, u)
					return
				}
				c.tag++
				c.send("T%d IDLE\r\n", c.tag)
				if line, err := c.readLine(30 * time.Second); err != nil || !strings.HasPrefix(line, "+ ") {
					errs <- fmt.Errorf("session %d IDLE: %v %q", i, err, line)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	setup := time.Since(setupStart)
	pid := in.pid()
	rss := procStatus(t, pid, "VmRSS")
	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	nofile := regexp.MustCompile(`(?m)^Max open files\s+(\d+)`).FindSubmatch(limits)
	if nofile == nil {
		t.Fatalf("no open-file limit in /proc/%d/limits", pid)
	}
	// One delivery; every session must hear of it.
	latencies := make([]time.Duration, sessions)
	got := make([]error, sessions)
	start := time.Now()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.c.SetReadDeadline(start.Add(10 * time.Second))
			for {
				line, err := c.r.ReadString('\n')
				if err != nil {
					got[i] = fmt.Errorf("no EXISTS within 10 s: %w", err)
					return
				}
				if strings.TrimRight(line, "\r\n") == "* 1 EXISTS" {
					latencies[i] = time.Since(start)
					return
				}
			}
		}()
	}
	if err := sendPlain(in.addr(portSMTP), "x@example.org", "idle@acme.test", "From: x@example.org\r\nTo: idle@acme.test\r\nSubject: wake up, all of you\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	smtpDone := time.Since(start)
	wg.Wait()
	failed := 0
	for i, err := range got {
		if err != nil {
			if failed < 5 {
				t.Errorf("session %d: %v", i, err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d IDLE sessions were not told of the delivery within 10 s", failed, sessions)
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	t.Logf("%d IDLE sessions set up in %v (posta RSS %.1f MB, open-file limit %s); delivery acknowledged after %v; EXISTS latency from the start of the SMTP session: median %v, p99 %v, max %v",
		sessions, setup.Round(time.Millisecond), float64(rss)/(1<<20), nofile[1], smtpDone.Round(time.Millisecond),
		sorted[sessions/2].Round(time.Millisecond), sorted[sessions*99/100].Round(time.Millisecond), sorted[sessions-1].Round(time.Millisecond))
	// DONE ends every IDLE with a tagged OK.
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send("DONE\r\n")
			for {
				line, err := c.readLine(20 * time.Second)
				if err != nil {
					got[i] = fmt.Errorf("after DONE: %w", err)
					return
				}
				if strings.HasPrefix(line, fmt.Sprintf("T%d ", c.tag)) {
					if !strings.HasPrefix(line, fmt.Sprintf("T%d OK", c.tag)) {
						got[i] = fmt.Errorf("DONE answered %q", line)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range got {
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
}

// TestIMAPDroppedConnections opens 10 000 connections and drops them: half right after LOGIN,
// half in the middle of an APPEND literal (synchronizing and LITERAL+), a quarter of each over
// IMAPS, some with a reset instead of a close. Afterwards posta must have closed every one
// (its open files back to where they were), still answer, have stored none of the partial
// APPENDs, and its RSS must not have grown by more than 50 MB.
func TestIMAPDroppedConnections(t *testing.T) {
	const total = 10000
	needOpenFiles(t, 1000)
	in := newInstall(t)
	mailSetup(t, in)
	in.addAccounts("Acme", "Business Mail 100 MB", "drop@acme.test")
	in.allowInsecureAuth()
	in.start()
	pid := in.pid()
	// Warm up: a few complete sessions, so that the baseline includes what any session needs.
	for i := 0; i < 20; i++ {
		c, err := dialIMAP(t, in.addr(portIMAP), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.mustCmd("LOGIN drop@acme.test %s", testPW)
		c.mustCmd("SELECT INBOX")
		c.mustCmd("LOGOUT")
		c.close()
	}
	time.Sleep(200 * time.Millisecond)
	rss0 := procStatus(t, pid, "VmRSS")
	files0, socks0 := openFiles(t, pid)
	next := make(chan int, total)
	for i := 0; i < total; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	errs := make(chan error, total)
	start := time.Now()
	for w := 0; w < 50; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				addr, tc := in.addr(portIMAP), (*tls.Config)(nil)
				if i%4 == 3 {
					addr, tc = in.addr(portIMAPS), in.tlsConfig()
				}
				c, err := dialIMAP(t, addr, tc)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					continue
				}
				if _, st, err := c.cmd("LOGIN drop@acme.test %s", testPW); err != nil || !strings.HasPrefix(st, "OK") {
					errs <- fmt.Errorf("connection %d LOGIN: %v %q", i, err, st)
				}
				if i%2 == 1 {
					// Half of the literal announced, then gone.
					if i%8 < 4 {
						c.send("A APPEND INBOX (\\Seen) {100000}\r\n")
						if line, err := c.readLine(10 * time.Second); err != nil || !strings.HasPrefix(line, "+ ") {
							errs <- fmt.Errorf("connection %d APPEND: %v %q", i, err, line)
						}
					} else {
						c.send("A APPEND INBOX {100000+}\r\n")
					}
					c.send("%s", "Subject: never complete\r\n\r\n"+strings.Repeat("x", 50000))
				}
				if tcp, ok := c.c.(*net.TCPConn); ok && i%3 == 0 {
					tcp.SetLinger(0) // a reset rather than a close
				}
				c.close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d connections failed before being dropped", n, total)
	}
	churn := time.Since(start)
	// posta notices every drop and closes its side: its sockets are back to the listeners and
	// the ones it had before (other files, such as database connections, may vary).
	deadline := time.Now().Add(15 * time.Second)
	files, socks := openFiles(t, pid)
	for socks > socks0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		files, socks = openFiles(t, pid)
	}
	if socks > socks0 {
		t.Errorf("posta has %d open sockets 15 s after the drops, %d before: dropped connections leak", socks, socks0)
	}
	// Still serving, and nothing of the partial APPENDs was stored.
	c, err := dialIMAP(t, in.addr(portIMAPS), in.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.mustCmd("LOGIN drop@acme.test %s", testPW)
	if u := c.mustCmd("STATUS INBOX (MESSAGES)"); strings.Join(u, "") != "* STATUS INBOX (MESSAGES 0)" {
		t.Errorf("after the partial APPENDs: %q", u)
	}
	c.mustCmd(`APPEND INBOX {27+}` + "\r\nSubject: complete\r\n\r\nbody\r\n")
	if u := c.mustCmd("STATUS INBOX (MESSAGES)"); strings.Join(u, "") != "* STATUS INBOX (MESSAGES 1)" {
		t.Errorf("after one complete APPEND: %q", u)
	}
	c.mustCmd("LOGOUT")
	rss := procStatus(t, pid, "VmRSS")
	t.Logf("%d connections dropped in %v; posta RSS %.1f MB before, %.1f MB after (%+.1f MB), peak %.1f MB; open files %d before, %d after, of which sockets %d and %d",
		total, churn.Round(time.Millisecond), float64(rss0)/(1<<20), float64(rss)/(1<<20), float64(rss-rss0)/(1<<20),
		float64(procStatus(t, pid, "VmHWM"))/(1<<20), files0, files, socks0, socks)
	if rss-rss0 > 50<<20 {
		t.Errorf("posta's RSS grew by %.1f MB (from %.1f MB to %.1f MB)", float64(rss-rss0)/(1<<20), float64(rss0)/(1<<20), float64(rss)/(1<<20))
	}
	in.stop()
	in.mustRun("store", "verify")
}
