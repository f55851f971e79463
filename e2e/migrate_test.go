package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// mailboxContent is every message of an account's folders: body, flags and internal date by
// Message-ID.
type mailboxContent map[string]map[string]struct {
	raw   []byte
	flags string
	date  time.Time
}

func readAccount(t *testing.T, addr, user string, folders []string) mailboxContent {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, testPW).Wait(); err != nil {
		t.Fatal(err)
	}
	out := mailboxContent{}
	for _, f := range folders {
		out[f] = map[string]struct {
			raw   []byte
			flags string
			date  time.Time
		}{}
		sel, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("%s: SELECT %q: %v", user, f, err)
		}
		if sel.NumMessages == 0 {
			continue
		}
		var all imap.SeqSet
		all.AddRange(1, 0)
		bufs, err := c.Fetch(all, &imap.FetchOptions{Flags: true, InternalDate: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bufs {
			var fl []string
			for _, x := range b.Flags {
				if !strings.EqualFold(string(x), `\Recent`) {
					fl = append(fl, strings.ToLower(string(x)))
				}
			}
			out[f][b.Envelope.MessageID] = struct {
				raw   []byte
				flags string
				date  time.Time
			}{b.BodySection[0].Bytes, strings.Join(slices.Sorted(slices.Values(fl)), " "), b.InternalDate}
		}
	}
	return out
}

// A mailbox moves from one posta to another with "posta migrate imap --wait": folders
// (nested, non-ASCII, Sent by name), flags, keywords, internal dates and bodies arrive intact;
// a second run copies nothing; a wrong password and plaintext without consent are refused.
func TestMigrateBetweenTwoPostas(t *testing.T) {
	src := newInstall(t)
	mailSetup(t, src)
	src.allowInsecureAuth()
	src.start()
	dst := newInstall(t)
	mailSetup(t, dst)
	dst.allowInsecureAuth()
	dst.start()

	c, err := imapclient.DialInsecure(src.addr(portIMAP), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice@acme.test", testPW).Wait(); err != nil {
		t.Fatal(err)
	}
	folders := []string{"INBOX", "Sent", "Progetti", "Progetti/2024", "Caffè ☕"}
	for _, f := range folders[2:] {
		if err := c.Create(f, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	flagSets := [][]imap.Flag{nil, {imap.FlagSeen}, {imap.FlagSeen, imap.FlagAnswered}, {imap.FlagFlagged, "$Label1"}, {imap.FlagDraft}}
	base := time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range 40 {
		f := folders[i%len(folders)]
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: a@old.test\r\nTo: alice@acme.test\r\nSubject: n. %d\r\nMessage-ID: <e2e-%d@old.test>\r\n\r\n", i, i)
		for range i * 120 {
			b.WriteString("una riga di testo àè\r\n")
		}
		cmd := c.Append(f, int64(b.Len()), &imap.AppendOptions{Flags: flagSets[i%len(flagSets)], Time: base.Add(time.Duration(i) * time.Minute)})
		cmd.Write(b.Bytes())
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND: %v", err)
		}
	}
	c.Logout().Wait()

	pw := writeFile(t, dst.dir, "source-pw", testPW)
	args := []string{"migrate", "imap", "--to", "bob@acme.test", "--source-host", "127.0.0.1", "--source-port", fmt.Sprint(portIMAP + src.offset),
		"--source-user", "alice@acme.test", "--source-password-file", pw}
	// Plaintext needs consent.
	if _, errs, code := dst.run(append(args, "--source-tls", "none")...); code != 1 || !strings.Contains(errs, "allow it explicitly") {
		t.Fatalf("plaintext without --allow-plaintext: exit %d, %s", code, errs)
	}
	args = append(args, "--source-tls", "none", "--allow-plaintext")
	// The trial: the report, nothing copied.
	out := dst.mustRun(append(args, "--dry-run", "--wait")...)
	if !strings.Contains(out, "FOLDER") || !strings.Contains(out, "Caffè ☕") || !strings.Contains(out, "copied 0 ") {
		t.Fatalf("dry run: %s", out)
	}
	out = dst.mustRun(append(args, "--wait")...)
	if !strings.Contains(out, ": done") || !strings.Contains(out, "copied 40") {
		t.Fatalf("migration: %s", out)
	}
	want := readAccount(t, src.addr(portIMAP), "alice@acme.test", folders)
	got := readAccount(t, dst.addr(portIMAP), "bob@acme.test", folders)
	for _, f := range folders {
		if len(got[f]) != len(want[f]) {
			t.Errorf("%s: %d messages, want %d", f, len(got[f]), len(want[f]))
		}
		for id, w := range want[f] {
			g, ok := got[f][id]
			switch {
			case !ok:
				t.Errorf("%s: %s missing", f, id)
			case !bytes.Equal(g.raw, w.raw):
				t.Errorf("%s: %s body differs", f, id)
			case g.flags != w.flags:
				t.Errorf("%s: %s flags %q, want %q", f, id, g.flags, w.flags)
			case !g.date.Equal(w.date):
				t.Errorf("%s: %s date %v, want %v", f, id, g.date, w.date)
			}
		}
	}

	// Again: nothing new.
	out = dst.mustRun(append(args, "--wait")...)
	if !strings.Contains(out, "copied 0 ") {
		t.Errorf("second run: %s", out)
	}
	var jobs []struct {
		ID     int64
		Status string
		Copied int64
	}
	dst.runJSON(&jobs, "migrate", "list")
	if len(jobs) != 3 || jobs[1].Copied != 40 || jobs[0].Copied != 0 {
		t.Errorf("jobs: %+v", jobs)
	}
	csv := dst.mustRun("migrate", "report", fmt.Sprint(jobs[1].ID), "--format", "csv")
	if !strings.Contains(csv, "folder,bob@acme.test,Progetti/2024,Progetti/2024,") || !strings.Contains(csv, "total,bob@acme.test,") {
		t.Errorf("CSV report:\n%s", csv)
	}
	var rep struct {
		Plan struct {
			Folders []struct{ Source, Dest string }
		}
	}
	if err := json.Unmarshal([]byte(dst.mustRun("migrate", "report", fmt.Sprint(jobs[1].ID), "--format", "json")), &rep); err != nil || len(rep.Plan.Folders) != 9 {
		t.Errorf("JSON report: %+v %v", rep, err)
	}

	// A spreadsheet of accounts: carol's quota (1 MB) is too small for alice's mail, which a
	// trial says without copying anything.
	sheet := writeFile(t, dst.dir, "caselle.csv", fmt.Sprintf("Source host;Source port;Source user;Source password;Destination address\r\n127.0.0.1;%d;alice@acme.test;%s;carol@acme.test\r\n", portIMAP+src.offset, testPW))
	out = dst.mustRun("migrate", "bulk", sheet, "--tenant", "Acme", "--source-tls", "none", "--allow-plaintext", "--dry-run", "--wait")
	if !strings.Contains(out, "carol@acme.test: done") {
		t.Errorf("bulk trial: %s", out)
	}
	var bulkJobs []struct {
		ID     int64
		DryRun bool `json:"dry_run"`
	}
	dst.runJSON(&bulkJobs, "migrate", "list", "--tenant", "Acme")
	rep2 := dst.mustRun("migrate", "report", fmt.Sprint(bulkJobs[0].ID))
	if !bulkJobs[0].DryRun || !strings.Contains(rep2, "MB short") {
		t.Errorf("bulk trial report:\n%s", rep2)
	}

	// A wrong source password: a clear error, exit 1.
	bad := writeFile(t, dst.dir, "bad-pw", "Not-The-Password-1")
	badArgs := append([]string{}, args...)
	badArgs[len(badArgs)-4] = bad
	out, errs, code := dst.run(append(badArgs, "--wait")...)
	if code != 1 || !strings.Contains(out, "refused the login of alice@acme.test") || !strings.Contains(errs, "did not complete") {
		t.Errorf("wrong password: exit %d\n%s\n%s", code, out, errs)
	}
	o, _, _ := dst.run("migrate", "list")
	if !strings.Contains(o, "failed") {
		t.Errorf("list after a wrong password:\n%s", o)
	}
}
