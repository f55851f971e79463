package e2e

import (
	"context"
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

const testPW = "Correct-Horse-42"

// mailSetup creates tenant Acme with domain acme.test (and alias domain acme.it), accounts
// alice and bob, a nearly full account carol, alias sales -> alice, and list team (alice, bob,
// friend@example.org), through the CLI.
func mailSetup(t *testing.T, in *install) {
	t.Helper()
	pw := writeFile(t, in.dir, "pw", testPW)
	in.mustRun("tenant", "create", "Acme", "--contact", "it@acme.test", "--contract", "payg")
	in.mustRun("domain", "add", "acme.test", "--tenant", "Acme")
	in.mustRun("domain", "add", "acme.it", "--tenant", "Acme", "--alias-of", "acme.test")
	in.mustRun("cos", "create", "Tiny", "--quota-mb", "1")
	for _, a := range [][2]string{{"alice@acme.test", "Business Mail 100 MB"}, {"bob@acme.test", "Business Mail 100 MB"}, {"carol@acme.test", "Tiny"}} {
		in.mustRun("account", "add", a[0], "--cos", a[1], "--password-file", pw)
	}
	in.mustRun("alias", "add", "sales@acme.test", "alice@acme.test")
	in.mustRun("list", "create", "team@acme.test", "--post-policy", "anyone")
	for _, m := range []string{"alice@acme.test", "bob@acme.test", "friend@example.org"} {
		in.mustRun("list", "add-member", "team@acme.test", m)
	}
}

// dbPath is the installation's SQLite file.
func (in *install) dbPath() string { return filepath.Join(in.dir, "data", "posta.db") }

// count runs a COUNT query on the installation's database.
func (in *install) count(q string, args ...any) int {
	in.t.Helper()
	return countIn(in.t, in.dbPath(), q, args...)
}

func countIn(t *testing.T, path, q string, args ...any) int {
	t.Helper()
	d, err := db.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (in *install) inbox(addr string) int {
	return in.count(`SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id JOIN accounts a ON a.id = x.account_id WHERE a.address = ? AND x.name = 'INBOX'`, addr)
}

func swaks(t *testing.T, args ...string) string {
	t.Helper()
	out, _ := exec.Command(needTool(t, "swaks"), append([]string{"--timeout", "20"}, args...)...).CombinedOutput()
	return string(out)
}

func TestSMTPWithSwaks(t *testing.T) {
	needTool(t, "swaks")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	// A tenant whose contract limits messages to 100 000 bytes.
	in.mustRun("tenant", "create", "Small", "--contact", "it@small.test", "--contract", "payg", "--max-message-size", "100000")
	in.mustRun("domain", "add", "small.test", "--tenant", "Small")
	in.mustRun("account", "add", "dan@small.test", "--cos", "Business Mail 100 MB", "--password-file", writeFile(t, in.dir, "pw2", testPW))
	mx, sub, subs := in.addr(portSMTP), in.addr(portSubmission), in.addr(portSubmissions)
	medium := "@" + writeFile(t, in.dir, "medium.txt", strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\r\n", 2700))
	// Make carol nearly full: 1 MB quota, a 900 KB message.
	big := "@" + writeFile(t, in.dir, "big.txt", strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789\r\n", 12000))
	tests := []struct {
		name string
		args []string
		want string // regexp over the whole swaks transcript
	}{
		{"to an account", []string{"-s", mx, "-f", "x@example.org", "-t", "alice@acme.test"}, `<-  250 2\.0\.0 OK: queued`},
		{"to an alias", []string{"-s", mx, "-f", "x@example.org", "-t", "sales@acme.test"}, `<-  250 2\.0\.0 OK: queued`},
		{"via an alias domain", []string{"-s", mx, "-f", "x@example.org", "-t", "bob@acme.it"}, `<-  250 2\.0\.0 OK: queued`},
		{"to a list", []string{"-s", mx, "-f", "x@example.org", "-t", "team@acme.test"}, `<-  250 2\.0\.0 OK: queued`},
		{"unknown user", []string{"-s", mx, "-f", "x@example.org", "-t", "nobody@acme.test"}, `<\*\* 550 5\.1\.1`},
		{"relay without auth", []string{"-s", mx, "-f", "x@example.org", "-t", "someone@example.net"}, `<\*\* 554 5\.7\.1`},
		{"submission needs auth", []string{"-s", sub, "-tls", "-f", "alice@acme.test", "-t", "bob@acme.test"}, `<~\* 530 5\.7\.0`},
		{"AUTH PLAIN over STARTTLS", []string{"-s", sub, "-tls", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW, "-f", "alice@acme.test", "-t", "bob@acme.test,friend@example.org"}, `<~  250 2\.0\.0 OK: queued`},
		{"AUTH LOGIN over implicit TLS", []string{"-s", subs, "-tlsc", "-a", "LOGIN", "-au", "bob@acme.test", "-ap", testPW, "-f", "bob@acme.test", "-t", "alice@acme.test"}, `<~  250 2\.0\.0 OK: queued`},
		{"AUTH LOGIN over STARTTLS", []string{"-s", sub, "-tls", "-a", "LOGIN", "-au", "alice@acme.test", "-ap", testPW, "-f", "alice@acme.test", "-t", "bob@acme.test"}, `<~  250 2\.0\.0 OK: queued`},
		{"AUTH PLAIN over implicit TLS", []string{"-s", subs, "-tlsc", "-a", "PLAIN", "-au", "bob@acme.test", "-ap", testPW, "-f", "bob@acme.test", "-t", "alice@acme.test"}, `<~  250 2\.0\.0 OK: queued`},
		{"over the recipient tenant's size limit", []string{"-s", mx, "-f", "x@example.org", "-t", "dan@small.test", "--body", medium}, `<\*\* 552 5\.3\.4`},
		{"over one recipient's limit, the other still gets it", []string{"-s", mx, "-f", "x@example.org", "-t", "dan@small.test,bob@acme.test", "--body", medium}, `<-  250 2\.0\.0 OK: queued`},
		{"over the sender tenant's size limit", []string{"-s", subs, "-tlsc", "-a", "PLAIN", "-au", "dan@small.test", "-ap", testPW, "-f", "dan@small.test", "-t", "alice@acme.test", "--body", medium}, `<~\* 552 5\.3\.4`},
		{"under the limit", []string{"-s", mx, "-f", "x@example.org", "-t", "dan@small.test"}, `<-  250 2\.0\.0 OK: queued`},
		{"wrong password", []string{"-s", sub, "-tls", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", "wrong-password", "-f", "alice@acme.test", "-t", "bob@acme.test"}, `<~\* 535 5\.7\.8`},
		{"no AUTH before TLS", []string{"-s", sub, "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW, "-f", "alice@acme.test", "-t", "bob@acme.test"}, `Host did not advertise authentication`},
		{"sending as someone else", []string{"-s", sub, "-tls", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW, "-f", "bob@acme.test", "-t", "bob@acme.test"}, `<~\* 553 5\.7\.1`},
		{"From header of someone else", []string{"-s", sub, "-tls", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW, "-f", "alice@acme.test", "-t", "bob@acme.test", "--h-From", "bob@acme.test"}, `<~\* 553 5\.7\.1`},
		{"pipelining", []string{"-s", mx, "--pipeline", "-f", "x@example.org", "-t", "alice@acme.test,bob@acme.test"}, `<-  250 2\.0\.0 OK: queued`},
		{"SMTPUTF8", []string{"-s", mx, "-f", "mittente@example.org", "-t", "alice@acme.test", "--header", "Subject: Città d'arte", "--body", "Perché sì"}, `<-  250 2\.0\.0 OK: queued`},
		{"fill carol", []string{"-s", mx, "-f", "x@example.org", "-t", "carol@acme.test", "--body", big}, `<-  250 2\.0\.0 OK: queued`},
		// carol is accepted at RCPT (no SIZE given, still under quota) but is full at commit:
		// bob gets the message, the sender a bounce for carol.
		{"carol full at commit, bob still gets it", []string{"-s", mx, "-f", "x@example.org", "-t", "carol@acme.test,bob@acme.test", "--body", big}, `<-  250 2\.0\.0 OK: queued`},
		{"carol alone full at commit", []string{"-s", mx, "-f", "x@example.org", "-t", "carol@acme.test", "--body", big}, `<\*\* 452 4\.2\.2`},
	}
	for _, tt := range tests {
		out := swaks(t, tt.args...)
		if !regexp.MustCompile(tt.want).MatchString(out) {
			t.Errorf("%s: transcript does not match %q:\n%s", tt.name, tt.want, lastLines(out, 12))
		}
	}
	// Oversize: a message over the 29 MB limit is refused with 552 5.3.4 during DATA.
	huge := filepath.Join(in.dir, "huge.eml")
	f, _ := os.Create(huge)
	fmt.Fprintf(f, "Subject: huge\r\n\r\n")
	line := strings.Repeat("x", 998) + "\r\n"
	for i := 0; i < 31000; i++ {
		f.WriteString(line)
	}
	f.Close()
	if out := swaks(t, "-s", mx, "-f", "x@example.org", "-t", "alice@acme.test", "--data", "@"+huge); !regexp.MustCompile(`552 5\.3\.4`).MatchString(out) {
		t.Errorf("oversize: %s", lastLines(out, 6))
	}
	// The store: alice got to-account, alias, list, three submissions, pipelining, SMTPUTF8.
	// bob: alias domain, list, two submissions, the one dan could not get, pipelining, carol's.
	// carol: the first big message and the 80 % quota warning. dan: the small one only.
	checks := map[string]int{"alice@acme.test": 7, "bob@acme.test": 7, "carol@acme.test": 2, "dan@small.test": 1}
	for addr, want := range checks {
		if got := in.inbox(addr); got != want {
			t.Errorf("%s has %d messages in INBOX, want %d", addr, got, want)
		}
	}
	if n := in.count(`SELECT COUNT(*) FROM queue WHERE rcpt_to = 'friend@example.org'`); n != 2 {
		t.Errorf("%d queued for the external list member and submission, want 2", n)
	}
	if n := in.count(`SELECT COUNT(*) FROM queue WHERE rcpt_to = 'x@example.org' AND mail_from = ''`); n != 2 {
		t.Errorf("%d bounces queued to the sender for carol and dan, want 2", n)
	}
	if n := in.count(`SELECT COUNT(*) FROM messages JOIN blob_meta USING (blob_id) WHERE subject LIKE 'Your mailbox is 8_% full'`); n != 1 {
		t.Errorf("%d quota warnings, want 1", n)
	}
	if n := in.count(`SELECT COUNT(*) FROM messages JOIN blob_meta USING (blob_id) WHERE subject = 'Città d''arte'`); n != 1 {
		t.Errorf("UTF-8 subject stored %d times", n)
	}
	in.stop()
	in.mustRun("store", "verify")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// addAccounts creates accounts directly through the directory (with a cheap hash: the test is
// about delivery, not about password hashing).
func (in *install) addAccounts(tenant, cos string, addrs ...string) {
	in.t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, "sqlite:"+in.dbPath())
	if err != nil {
		in.t.Fatal(err)
	}
	defer d.Close()
	h := auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	dir := directory.New(d, h, directory.Options{OnAccountCreated: mailstore.CreateDefaultMailboxes})
	ctx = directory.WithActor(ctx, directory.SystemActor("e2e"))
	for _, a := range addrs {
		if _, err := dir.CreateAccount(ctx, directory.AccountSpec{Address: a, Password: testPW, COS: cos}); err != nil {
			in.t.Fatal(err)
		}
	}
}

func TestSMTPListOf200WithPythonSmtplib(t *testing.T) {
	py := needTool(t, "python3")
	in := newInstall(t)
	mailSetup(t, in)
	var members []string
	for i := 0; i < 200; i++ {
		members = append(members, fmt.Sprintf("m%03d@acme.test", i))
	}
	in.addAccounts("Acme", "Business Mail 100 MB", members...)
	in.mustRun("list", "create", "all@acme.test", "--post-policy", "anyone")
	for _, m := range members {
		in.mustRun("list", "add-member", "all@acme.test", m)
	}
	in.start()
	script := fmt.Sprintf(`
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "sender@example.org"
m["To"] = "all@acme.test"
m["Subject"] = "to everybody"
m["Message-ID"] = "<list200@example.org>"
m.set_content("hello list\n" * 500)
with smtplib.SMTP("127.0.0.1", %d) as s:
    refused = s.send_message(m)
    assert not refused, refused
print("sent")
`, portSMTP+in.offset)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sent") {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	if n := in.count(`SELECT COUNT(*) FROM messages JOIN blob_meta USING (blob_id) WHERE message_id = 'list200@example.org'`); n != 200 {
		t.Fatalf("%d mailbox entries, want 200", n)
	}
	if n := in.count(`SELECT COUNT(DISTINCT blob_id) FROM messages JOIN blob_meta USING (blob_id) WHERE message_id = 'list200@example.org'`); n != 1 {
		t.Fatalf("%d blobs for one list message, want 1", n)
	}
	if n := in.count(`SELECT refs FROM blobs WHERE id = (SELECT blob_id FROM messages JOIN blob_meta USING (blob_id) WHERE message_id = 'list200@example.org' LIMIT 1)`); n != 200 {
		t.Fatalf("blob refs %d, want 200", n)
	}
}

func TestSubmissionWithMsmtp(t *testing.T) {
	msmtp := needTool(t, "msmtp")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	cfg := writeFile(t, in.dir, "msmtprc", fmt.Sprintf(`account posta
host 127.0.0.1
port %d
tls on
tls_starttls on
tls_certcheck off
auth plain
user alice@acme.test
password %s
from alice@acme.test
account default : posta
`, portSubmission+in.offset, testPW))
	cmd := exec.Command(msmtp, "-C", cfg, "-t")
	cmd.Stdin = strings.NewReader("From: Alice <alice@acme.test>\r\nTo: bob@acme.test\r\nSubject: via msmtp\r\n\r\nhello bob\r\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("msmtp: %v\n%s", err, out)
	}
	if n := in.count(`SELECT COUNT(*) FROM messages JOIN blob_meta USING (blob_id) WHERE subject = 'via msmtp'`); n != 1 {
		t.Fatalf("msmtp message stored %d times", n)
	}
}

// TestSMTPCrashLosesNothing kills posta with SIGKILL while 8 clients deliver, restarts it, and
// checks that every message that got a 250 is stored exactly once and the store verifies.
func TestSMTPCrashLosesNothing(t *testing.T) {
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	var mu sync.Mutex
	var accepted []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("crash-%d-%d@example.org", w, i)
				msg := fmt.Sprintf("From: x@example.org\r\nTo: alice@acme.test\r\nMessage-ID: <%s>\r\nSubject: crash test\r\n\r\n%s", id, strings.Repeat("a line of the crash test body\r\n", 250))
				if err := sendPlain(in.addr(portSMTP), "x@example.org", "alice@acme.test", msg); err == nil {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				} else if strings.Contains(err.Error(), "connection refused") {
					return
				}
			}
		}(w)
	}
	time.Sleep(1500 * time.Millisecond)
	in.kill()
	close(stop)
	wg.Wait()
	mu.Lock()
	n := len(accepted)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no message accepted before the crash")
	}
	in.start()
	for _, id := range accepted {
		if c := in.count(`SELECT COUNT(*) FROM messages JOIN blob_meta USING (blob_id) WHERE message_id = ?`, id); c != 1 {
			t.Errorf("%s: acknowledged with 250, stored %d times", id, c)
		}
	}
	in.stop()
	in.mustRun("store", "verify")
	t.Logf("%d messages acknowledged before SIGKILL, all present once", n)
}

// sendPlain sends one message over a plain SMTP session (no STARTTLS), as an MX peer would.
func sendPlain(addr, from, to, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// TestSMTPLoginThrottleAndUTF8 checks that repeated wrong passwords are slowed down (454 4.7.0;
// smtplib tries PLAIN then LOGIN, so each call counts two failures and the third call is throttled)
// and that an SMTPUTF8 transaction with a UTF-8 address is delivered.
func TestSMTPLoginThrottleAndUTF8(t *testing.T) {
	py := needTool(t, "python3")
	in := newInstall(t)
	mailSetup(t, in)
	in.addAccounts("Acme", "Business Mail 100 MB", "città@acme.test")
	in.start()
	script := fmt.Sprintf(`
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
codes = []
for i in range(5):
    s = smtplib.SMTP("127.0.0.1", %d); s.starttls(context=ctx)
    try:
        s.login("alice@acme.test", "wrong-password-%%d" %% i)
    except smtplib.SMTPAuthenticationError as e:
        codes.append(e.smtp_code)
    except smtplib.SMTPResponseException as e:
        codes.append(e.smtp_code)
    s.quit()
print("codes", codes)
s = smtplib.SMTP("127.0.0.1", %d)
s.ehlo()
assert s.has_extn("smtputf8")
msg = "From: mittente@example.org\r\nTo: città@acme.test\r\nSubject: UTF-8\r\n\r\nCiao\r\n".encode("utf-8")
s.sendmail("mittente@esempio.org", ["città@acme.test"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
s.quit()
print("utf8 sent")
`, portSubmission+in.offset, portSMTP+in.offset)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "codes [535, 535, 454, 454, 454]") || !strings.Contains(string(out), "utf8 sent") {
		t.Fatalf("unexpected:\n%s", out)
	}
	if n := in.inbox("città@acme.test"); n != 1 {
		t.Fatalf("UTF-8 mailbox has %d messages", n)
	}
	if strings.Contains(in.logs.String(), "wrong-password") {
		t.Fatal("a password was logged")
	}
}
