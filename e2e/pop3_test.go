package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// deliverN sends n small messages to addr over the MX.
func (in *install) deliverN(t *testing.T, to string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: x@example.org\r\nTo: %s\r\nSubject: pop %d\r\nMessage-ID: <pop-%d@example.org>\r\n\r\nbody %d\r\n.leading dot\r\n", to, i, i, i)
		if err := sendPlain(in.addr(portSMTP), "x@example.org", to, msg); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPOP3WithPythonPoplib(t *testing.T) {
	py := needTool(t, "python3")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	in.deliverN(t, "alice@acme.test", 5)
	script := fmt.Sprintf(`
import poplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
# POP3S (implicit TLS)
p = poplib.POP3_SSL("127.0.0.1", %d, context=ctx)
p.user("alice@acme.test"); p.pass_(%q)
count, size = p.stat()
assert count == 5, count
uidls = [l.split()[1] for l in p.uidl()[1]]
resp, lines, octets = p.retr(1)
assert b"Subject: pop 0" in lines, lines
assert b".leading dot" in lines, lines
top = p.top(2, 0)[1]
assert b"Subject: pop 1" in top and b"body 1" not in top, top
p.dele(1); p.dele(2)
p.quit()
# POP3 with STLS
p = poplib.POP3("127.0.0.1", %d)
assert "STLS" in p.capa()
p.stls(context=ctx)
p.user("alice@acme.test"); p.pass_(%q)
count, _ = p.stat()
assert count == 3, count
left = [l.split()[1] for l in p.uidl()[1]]
assert left == uidls[2:], (left, uidls)
try:
    p2 = poplib.POP3_SSL("127.0.0.1", %d, context=ctx); p2.user("alice@acme.test"); p2.pass_(%q)
    raise SystemExit("second session got the maildrop")
except poplib.error_proto as e:
    assert b"IN-USE" in e.args[0], e
p.quit()
print("ok")
`, portPOP3S+in.offset, testPW, portPOP3+in.offset, testPW, portPOP3S+in.offset, testPW)
	out, err := exec.Command(py, "-c", script).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("poplib: %v\n%s", err, out)
	}
	if n := in.inbox("alice@acme.test"); n != 3 {
		t.Fatalf("%d messages left, want 3", n)
	}
}

func TestPOP3WithFetchmail(t *testing.T) {
	fm := needTool(t, "fetchmail")
	in := newInstall(t)
	mailSetup(t, in)
	in.start()
	in.deliverN(t, "bob@acme.test", 4)
	mda := filepath.Join(in.dir, "fetched")
	os.MkdirAll(mda, 0o700)
	rc := writeFile(t, in.dir, "fetchmailrc", fmt.Sprintf(`set no bouncemail
poll 127.0.0.1 protocol POP3 port %d
  user "bob@acme.test" password "%s" is "bob" here
  ssl no sslcertck
  mda "/bin/sh -c 'cat > %s/msg.$$'"
`, portPOP3S+in.offset, testPW, mda))
	home := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command(fm, append([]string{"-f", rc, "--nodetach", "--silent"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		// fetchmail exits 1 when there was no mail: that is success here.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
			t.Fatalf("fetchmail %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("--keep")
	files, _ := os.ReadDir(mda)
	if len(files) != 4 || in.inbox("bob@acme.test") != 4 {
		t.Fatalf("--keep: fetched %d, server keeps %d; want 4 and 4", len(files), in.inbox("bob@acme.test"))
	}
	run("--all") // fetch again the ones already seen, and delete them this time
	if in.inbox("bob@acme.test") != 0 {
		t.Fatalf("after fetching without --keep the server still has %d", in.inbox("bob@acme.test"))
	}
	in.stop()
	in.mustRun("store", "verify")
}
