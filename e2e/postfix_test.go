package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postamail/posta/internal/mailauth"
	"github.com/postamail/posta/internal/resolver"
)

// postfix is a private Postfix instance on loopback: its own configuration, queue and data
// directories and virtual mailboxes (Maildir) under one temporary directory. The system's
// Postfix configuration is neither read nor changed.
type postfix struct {
	t      *testing.T
	dir    string // root of the instance
	etc    string // config_directory
	port   int
	domain string
}

// startPostfix runs a Postfix instance that receives mail for domain on 127.0.0.1:port with
// STARTTLS (a certificate made here), delivering the users listed to Maildirs and answering
// every address in access with its action (check_recipient_access); other addresses of the
// domain are unknown (550 5.1.1).
func startPostfix(t *testing.T, domain string, users []string, access map[string]string) *postfix {
	t.Helper()
	bin := "/usr/sbin/postfix"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("postfix is not installed; .ci/run must install it")
		}
		t.Skip("postfix is not installed (apt-get install postfix)")
	}
	if os.Geteuid() != 0 {
		t.Skip("a private Postfix instance needs root (its daemons drop to the postfix user)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody to own the mailboxes: %v", err)
	}
	if _, err := user.Lookup("postfix"); err != nil {
		t.Skipf("no user postfix: %v", err)
	}
	// The postfix user must reach the queue: the temporary directory and its parent become
	// traversable.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pf := &postfix{t: t, dir: dir, etc: filepath.Join(dir, "etc"), port: freePort(t), domain: domain}
	for _, d := range []string{"etc", "queue", "data", "mail"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	uid, gid := nobody.Uid, nobody.Gid
	if out, err := exec.Command("chown", uid+":"+gid, filepath.Join(dir, "mail")).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	certPEM, keyPEM := selfSigned(t, "mx."+domain)
	pf.write("cert.pem", string(certPEM), 0o644)
	pf.write("key.pem", string(keyPEM), 0o600)
	var vmailbox strings.Builder
	for _, u := range users {
		fmt.Fprintf(&vmailbox, "%s@%s %s/%s/\n", u, domain, domain, u)
	}
	pf.write("vmailbox", vmailbox.String(), 0o644)
	pf.setAccess(access)
	pf.write("main.cf", fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
myhostname = mx.%[2]s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
virtual_mailbox_domains = %[2]s
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = texthash:%[1]s/etc/vmailbox
virtual_uid_maps = static:%[3]s
virtual_gid_maps = static:%[4]s
smtpd_recipient_restrictions = check_recipient_access texthash:%[1]s/etc/access, permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_cert_file = %[1]s/etc/cert.pem
smtpd_tls_key_file = %[1]s/etc/key.pem
smtpd_tls_received_header = yes
maillog_file = %[1]s/log
maillog_file_prefixes = %[1]s
smtputf8_enable = yes
`, dir, domain, uid, gid), 0o644)
	pf.write("master.cf", fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
virtual   unix  - n n -     - virtual
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
`, pf.port), 0o644)
	if out, err := pf.ctl("start"); err != nil {
		t.Skipf("postfix does not start: %v\n%s\n%s", err, out, pf.log())
	}
	t.Cleanup(pf.stop)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", pf.port), time.Second)
		if err == nil {
			c.Close()
			return pf
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix does not listen on %d: %v\n%s", pf.port, err, pf.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (pf *postfix) addr() string { return fmt.Sprintf("127.0.0.1:%d", pf.port) }

func (pf *postfix) ctl(verb string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/sbin/postfix", "-c", pf.etc, verb).CombinedOutput()
	return string(out), err
}

// write writes a file of the configuration directory.
func (pf *postfix) write(name, content string, mode os.FileMode) {
	pf.t.Helper()
	if err := os.WriteFile(filepath.Join(pf.etc, name), []byte(content), mode); err != nil {
		pf.t.Fatal(err)
	}
}

func (pf *postfix) log() string {
	b, _ := os.ReadFile(filepath.Join(pf.dir, "log"))
	return string(b)
}

// setAccess writes the check_recipient_access table (read again at start or reload).
func (pf *postfix) setAccess(access map[string]string) {
	var b strings.Builder
	for addr, action := range access {
		fmt.Fprintf(&b, "%s %s\n", addr, action)
	}
	pf.write("access", b.String(), 0o644)
}

// reload makes Postfix read its tables again and waits until the master has done so.
func (pf *postfix) reload() {
	pf.t.Helper()
	before := strings.Count(pf.log(), "reload -- version")
	if out, err := pf.ctl("reload"); err != nil {
		pf.t.Fatalf("postfix reload: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Count(pf.log(), "reload -- version") == before; {
		if time.Now().After(deadline) {
			pf.t.Fatalf("postfix did not reload:\n%s", pf.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the instance and waits for its master process to end.
func (pf *postfix) stop() {
	pidText, _ := os.ReadFile(filepath.Join(pf.dir, "queue", "pid", "master.pid"))
	pf.ctl("stop")
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil || pid <= 0 {
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
	pf.t.Errorf("postfix master %d still running 10s after stop", pid)
}

// mailbox returns the messages delivered to a user's Maildir, with CRLF line ends (the
// Maildir keeps the local convention, LF).
func (pf *postfix) mailbox(user string) [][]byte {
	pf.t.Helper()
	dir := filepath.Join(pf.dir, "mail", pf.domain, user, "new")
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		pf.t.Fatal(err)
	}
	var out [][]byte
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			pf.t.Fatal(err)
		}
		out = append(out, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSigned returns a P-256 certificate for name and its key, in PEM.
func selfSigned(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// dkimRecords answers the DKIM key look-ups of mailauth from the records "posta domain dkim"
// prints; every other look-up finds nothing.
type dkimRecords map[string]string

func (r dkimRecords) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := r[strings.TrimSuffix(strings.ToLower(name), ".")]; ok {
		return []string{v}, nil
	}
	return nil, resolver.ErrNotFound
}
func (dkimRecords) LookupMX(context.Context, string) ([]string, error) {
	return nil, resolver.ErrNotFound
}
func (dkimRecords) LookupA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}
func (dkimRecords) LookupAAAA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}
func (dkimRecords) LookupPTR(context.Context, netip.Addr) ([]string, error) {
	return nil, resolver.ErrNotFound
}

// Debian's Postfix as the receiving MTA: posta delivers to a private Postfix instance over
// STARTTLS, signed with both DKIM keys of the sender's domain (verified here against the
// records "posta domain dkim" prints); a recipient Postfix defers (451) stays queued until
// Postfix takes it and "posta queue retry" sends it again; an unknown recipient (550 5.1.1)
// comes back to the sender as a DSN, read over IMAP.
func TestOutboundToPostfix(t *testing.T) {
	pf := startPostfix(t, "lab.test", []string{"rita", "later"}, map[string]string{"later@lab.test": "451 4.3.0 try later"})
	a := newInstall(t)
	mailSetup(t, a)
	f, err := os.OpenFile(a.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\"lab.test\" = %q\n", pf.addr()) // into the harness's [outbound.routes]
	f.Close()
	var recs []struct{ Name, Algorithm, State, Value string }
	a.runJSON(&recs, "domain", "dkim", "acme.test")
	keys := dkimRecords{}
	for _, r := range recs {
		if r.State == "active" {
			keys[strings.ToLower(r.Name)] = r.Value
		}
	}
	if len(keys) != 2 {
		t.Fatalf("active DKIM records: %+v", recs)
	}
	a.start()

	msg := "From: alice@acme.test\r\nTo: rita@lab.test, later@lab.test, ghost@lab.test\r\nSubject: to postfix\r\n" +
		"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <pfx-1@acme.test>\r\n\r\nciao Rita\r\n"
	if out := swaksData(t, msg, "-s", a.addr(portSubmissions), "-tlsc", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW,
		"-f", "alice@acme.test", "-t", "rita@lab.test,later@lab.test,ghost@lab.test"); !strings.Contains(out, "<~  250 ") {
		t.Fatalf("submission: %s", lastLines(out, 8))
	}
	type attempt struct {
		TLS, Policy, Response string
		Code                  int
	}
	type traceEntry struct {
		QueueID    int64 `json:"queue_id"`
		To, Status string
		Attempts   []attempt
	}
	trace := func() map[string]traceEntry {
		var tr []traceEntry
		a.runJSON(&tr, "queue", "trace", "pfx-1@acme.test")
		m := map[string]traceEntry{}
		for _, e := range tr {
			m[e.To] = e
		}
		return m
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		tr := trace()
		if len(pf.mailbox("rita")) > 0 && a.inbox("alice@acme.test") > 0 && len(tr["later@lab.test"].Attempts) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := pf.mailbox("rita")
	if len(got) != 1 {
		t.Fatalf("rita has %d messages, want 1\nposta:\n%s\npostfix:\n%s", len(got), a.logs, pf.log())
	}
	if !bytes.Contains(got[0], []byte("by mx.lab.test (Postfix) with ESMTPS")) {
		t.Errorf("not received over TLS by Postfix:\n%s", got[0])
	}
	res, err := mailauth.VerifyDKIM(context.Background(), keys, bytes.NewReader(got[0]))
	if err != nil {
		t.Fatal(err)
	}
	algs := map[string]bool{}
	for _, r := range res {
		if r.Result != mailauth.DKIMPass || r.Domain != "acme.test" {
			t.Errorf("DKIM %s s=%s d=%s: %s %v", r.Algorithm, r.Selector, r.Domain, r.Result, r.Err)
		}
		algs[r.Algorithm] = true
	}
	if len(res) != 2 || !algs["ed25519-sha256"] || !algs["rsa-sha256"] {
		t.Errorf("DKIM signatures: %+v", res)
	}

	tr := trace()
	if e := tr["rita@lab.test"]; e.Status != "delivered" || len(e.Attempts) != 1 || !strings.HasPrefix(e.Attempts[0].TLS, "TLS 1.3") || e.Attempts[0].Code != 250 {
		t.Errorf("rita: %+v", e)
	}
	if e := tr["ghost@lab.test"]; e.Status != "failed" || len(e.Attempts) != 1 || e.Attempts[0].Code != 550 || !strings.Contains(e.Attempts[0].Response, "5.1.1") {
		t.Errorf("ghost: %+v", e)
	}
	later := tr["later@lab.test"]
	if later.Status != "queued" || len(later.Attempts) != 1 || later.Attempts[0].Code != 451 || !strings.Contains(later.Attempts[0].Response, "try later") {
		t.Fatalf("later: %+v\n%s", later, pf.log())
	}

	// The DSN for ghost, as alice's mail client sees it.
	out := pyIMAP(t, a, "alice@acme.test", `
ok(M.select("INBOX"))
n = ok(M.search(None, "SUBJECT", '"Undelivered Mail Returned to Sender"'))[0].split()
print("dsns", len(n))
print(ok(M.fetch(n[0], "(BODY.PEEK[])"))[0][1].decode())
`)
	for _, want := range []string{"dsns 1", "Final-Recipient: rfc822; ghost@lab.test", "Action: failed", "Status: 5.1.1", "User unknown in virtual mailbox table", "Message-ID: <pfx-1@acme.test>"} {
		if !strings.Contains(out, want) {
			t.Errorf("DSN lacks %q:\n%s", want, out)
		}
	}

	// Postfix takes later@ now; the operator retries at once instead of waiting for the back-off.
	// A connection open across the reload keeps the old smtpd and its table: wait until
	// posta has closed its idle one (kept a few seconds for more mail).
	for deadline := time.Now().Add(15 * time.Second); !regexp.MustCompile(`disconnect from .* mail=`).MatchString(pf.log()); {
		if time.Now().After(deadline) {
			t.Fatalf("posta keeps its connection to Postfix open:\n%s", pf.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pf.setAccess(map[string]string{"later@lab.test": "OK"})
	pf.reload()
	if n := len(pf.mailbox("later")); n != 0 {
		t.Fatalf("later has %d messages before the retry", n)
	}
	a.mustRun("queue", "retry", fmt.Sprint(later.QueueID))
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && len(pf.mailbox("later")) == 0; {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(pf.mailbox("later")); n != 1 {
		t.Fatalf("later has %d messages after the retry, want 1\n%s\nposta:\n%s", n, pf.log(), a.logs)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && trace()["later@lab.test"].Status != "delivered"; {
		time.Sleep(100 * time.Millisecond)
	}
	if e := trace()["later@lab.test"]; e.Status != "delivered" || len(e.Attempts) != 2 || e.Attempts[1].Code != 250 {
		t.Errorf("later after the retry: %+v", e)
	}
	if n := len(pf.mailbox("rita")); n != 1 {
		t.Errorf("rita has %d messages after the retry, want 1", n)
	}
	var q []json.RawMessage
	a.runJSON(&q, "queue", "list")
	if len(q) != 0 {
		t.Errorf("queue not empty: %s", q)
	}
}
