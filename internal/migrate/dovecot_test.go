package migrate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

// dovecot is a real Dovecot (Debian's dovecot-imapd) on loopback, run by bench/peers/dovecot.
type dovecot struct {
	port int
}

// startDovecot runs Dovecot with the given users (user, password, user, password...), or skips
// the test when Dovecot is not installed.
func startDovecot(t testing.TB, users ...string) *dovecot {
	t.Helper()
	return startDovecotWith(t, nil, users...)
}

// startDovecotWith runs Dovecot with extra environment for bench/peers/dovecot (DOVECOT_MASTER,
// DOVECOT_TLS_*).
func startDovecotWith(t testing.TB, env []string, users ...string) *dovecot {
	t.Helper()
	if _, err := exec.LookPath("dovecot"); err != nil {
		if _, err := os.Stat("/usr/sbin/dovecot"); err != nil {
			t.Skip("Dovecot is not installed (apt-get install -y dovecot-imapd): the migration tests need a real IMAP source")
		}
	}
	if out, err := exec.Command("dpkg", "-s", "dovecot-imapd").CombinedOutput(); err != nil {
		t.Skipf("dovecot-imapd is not installed (apt-get install -y dovecot-imapd): %s", bytes.TrimSpace(out))
	}
	script, err := filepath.Abs("../../bench/peers/dovecot")
	if err != nil {
		t.Fatal(err)
	}
	// The mail processes run as another user when the test runs as root: the directory must
	// be reachable by it, which t.TempDir's is not.
	dir, err := os.MkdirTemp("/tmp", "posta-migrate-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := append([]string{script, "start", dir, users[0], users[1], fmt.Sprint(port)}, users[2:]...)
	cmd := exec.Command("bash", args...)
	cmd.Env = append(append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin:"+os.Getenv("PATH")), env...)
	// Dovecot keeps the descriptors it was given: its output goes to a file, not to a pipe
	// the test would wait on forever.
	out, err := os.Create(filepath.Join(dir, "start.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.Close()
	if err != nil {
		msg, _ := os.ReadFile(out.Name())
		os.RemoveAll(dir)
		t.Fatalf("starting Dovecot: %v\n%s", err, msg)
	}
	t.Cleanup(func() {
		c := exec.Command("bash", script, "stop", dir)
		c.Env = cmd.Env
		c.Run()
		os.RemoveAll(dir)
	})
	return &dovecot{port: port}
}

func (dc *dovecot) login(t testing.TB, user, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", dc.port), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testMessage builds a message of about size bytes with a unique Message-ID.
func testMessage(id string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Mittente <from@old.test>\r\nTo: anna@old.test\r\nSubject: Messaggio %s è qui\r\nMessage-ID: <%s@old.test>\r\nDate: Mon, 4 Mar 2024 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", id, id)
	line := "Riga di prova del messaggio " + id + ", con qualche carattere non ASCII: àèìòù €.\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

// appendMsg appends a message with flags and an internal date.
func appendMsg(t testing.TB, c *imapclient.Client, mailbox string, raw []byte, flags []imap.Flag, date time.Time) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND to %q: %v", mailbox, err)
	}
}

// fill gives a source account its folders and messages: n messages spread over nested and
// non-ASCII folders, of varied sizes, flags and keywords, each with its own internal date, and
// one message of big bytes when big is not 0.
func fill(t testing.TB, c *imapclient.Client, n int, big int) (folders []string) {
	t.Helper()
	sizes := []int{600, 2000, 9000, 40000, 1500, 120000, 300}
	folders = fillWith(t, c, n, func(i int) []byte { return testMessage(fmt.Sprintf("m%04d", i), sizes[i%len(sizes)]) })
	if big > 0 {
		appendMsg(t, c, "INBOX", testMessage("big", big), []imap.Flag{imap.FlagSeen}, fillBase.Add(-time.Hour))
	}
	return folders
}

// fillBase is the internal date of the first message fill appends; each next one is an hour
// later.
var fillBase = time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)

// fillWith creates fill's folders and appends the n messages msg makes.
func fillWith(t testing.TB, c *imapclient.Client, n int, msg func(i int) []byte) (folders []string) {
	t.Helper()
	list, err := c.List("", "INBOX", nil).Collect()
	if err != nil || len(list) == 0 {
		t.Fatalf("LIST INBOX: %v", err)
	}
	d := string(list[0].Delim)
	folders = []string{"INBOX", "Posta inviata", "Cestino", "Progetti", "Progetti" + d + "2024", "Café ☕" + d + "Ελληνικά"}
	for _, f := range folders[1:] {
		if err := c.Create(f, nil).Wait(); err != nil {
			t.Fatalf("CREATE %q: %v", f, err)
		}
	}
	flagSets := [][]imap.Flag{nil, {imap.FlagSeen}, {imap.FlagSeen, imap.FlagAnswered}, {imap.FlagFlagged}, {imap.FlagSeen, "$Label1"}, {imap.FlagDraft, "Progetto"}, {imap.FlagSeen, imap.FlagFlagged, "$Forwarded", "Cliente"}}
	for i := range n {
		appendMsg(t, c, folders[i%len(folders)], msg(i), flagSets[i%len(flagSets)], fillBase.Add(time.Duration(i)*time.Hour))
	}
	return folders
}

// dest is the destination: a posta store and directory over one database.
type dest struct {
	d     *db.DB
	dir   *directory.Service
	store *mailstore.Store
	svc   *Service
	sys   context.Context
}

func newDest(t testing.TB, d *db.DB) *dest {
	t.Helper()
	ctx := directory.WithActor(context.Background(), directory.SystemActor("test"))
	b, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mailstore.New(d, b, changes.New(), mailstore.Options{Logger: log})
	t.Cleanup(func() { st.Close() })
	dir := directory.New(d, auth.NewHasher(auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}),
		directory.Options{OnAccountCreated: mailstore.CreateDefaultMailboxes, OnAccountsCreated: mailstore.CreateDefaultMailboxesMany})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nil, dir.SeedStandardCOS(ctx))
	must(dir.CreateTenant(ctx, directory.TenantSpec{Name: "Nuova Srl", ContactEmail: "it@new.test", Contract: directory.ContractPayg}))
	must(dir.CreateTenant(ctx, directory.TenantSpec{Name: "Altra SpA", ContactEmail: "it@other.test", Contract: directory.ContractPayg}))
	must(dir.AddDomain(ctx, "Nuova Srl", "new.test", directory.DomainOptions{}))
	must(dir.AddDomain(ctx, "Altra SpA", "other.test", directory.DomainOptions{}))
	must(dir.CreateCOS(ctx, directory.COSSpec{Name: "Migrazione", ServiceType: "custom", QuotaMB: 200, Features: []string{"mail"}, MaxMessageSize: 1 << 20}))
	must(dir.CreateCOS(ctx, directory.COSSpec{Name: "Piccola", ServiceType: "custom", QuotaMB: 1, Features: []string{"mail"}}))
	for _, a := range []directory.AccountSpec{
		{Address: "anna@new.test", Password: "Nuova-Pass-1", COS: "Migrazione"},
		{Address: "bruno@new.test", Password: "Nuova-Pass-2", COS: "Migrazione"},
		{Address: "small@new.test", Password: "Nuova-Pass-3", COS: "Piccola"},
		{Address: "other@other.test", Password: "Nuova-Pass-4", COS: "Migrazione"},
	} {
		must(dir.CreateAccount(ctx, a))
	}
	svc := New(d, dir, st, Options{KeyFile: filepath.Join(t.TempDir(), KeyFileName), Logger: log})
	return &dest{d: d, dir: dir, store: st, svc: svc, sys: ctx}
}

// runner runs the migration runner until the returned stop is called.
func (e *dest) runner(t testing.TB) (stop func()) {
	return e.runnerWith(t, RunnerOptions{Poll: 20 * time.Millisecond, Lease: 3 * time.Second, Batch: 20, Folders: 3})
}

func (e *dest) runnerWith(t testing.TB, o RunnerOptions) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.svc.Run(ctx, o)
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

// wait waits for a job to end: a minute, or ten in a benchmark (a paced migration of the
// benchmark's source takes about one).
func (e *dest) wait(t testing.TB, id int64) *Job {
	t.Helper()
	limit := time.Minute
	if _, ok := t.(*testing.B); ok {
		limit = 10 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		j, err := e.svc.Get(e.sys, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Finished() {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %d did not end", id)
	return nil
}

func (e *dest) create(t testing.TB, dc *dovecot, to, user, password string, mod ...func(*Request)) *Job {
	t.Helper()
	r := Request{Address: to, SourceHost: "127.0.0.1", SourcePort: dc.port, SourceTLS: TLSNone, AllowPlaintext: true, SourceUser: user, SourcePassword: password}
	for _, m := range mod {
		m(&r)
	}
	j, err := e.svc.Create(e.sys, r)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// srcMsg is a message as the source has it.
type fullMsg struct {
	flags []string
	date  time.Time
	raw   []byte
}

// sourceState reads every message of a source account by Message-ID, per folder.
func sourceState(t testing.TB, c *imapclient.Client, folders []string) map[string]map[string]fullMsg {
	t.Helper()
	out := map[string]map[string]fullMsg{}
	for _, f := range folders {
		out[f] = map[string]fullMsg{}
		if _, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		bufs, err := c.Fetch(all, &imap.FetchOptions{Flags: true, InternalDate: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bufs {
			var fl []string
			for _, x := range b.Flags {
				if !strings.EqualFold(string(x), `\Recent`) {
					fl = append(fl, string(x))
				}
			}
			out[f][b.Envelope.MessageID] = fullMsg{flags: fl, date: b.InternalDate, raw: b.BodySection[0].Bytes}
		}
	}
	return out
}

// destState reads a destination mailbox by Message-ID.
func (e *dest) destState(t testing.TB, account, mailbox string) map[string]fullMsg {
	t.Helper()
	ctx := context.Background()
	acc, err := e.dir.GetAccount(e.sys, account)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := e.store.Mailbox(ctx, acc.ID, mailbox)
	if err != nil {
		t.Fatalf("destination mailbox %q: %v", mailbox, err)
	}
	out := map[string]fullMsg{}
	err = e.store.Messages(ctx, mb.ID, nil, mailstore.WithEnvelope|mailstore.WithBlobKey, func(m *mailstore.Message) error {
		r, err := e.store.OpenBody(ctx, m.BlobKey)
		if err != nil {
			return err
		}
		defer r.Close()
		raw, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		id := strings.Trim(m.Envelope.MessageID, "<>")
		if _, dup := out[id]; dup {
			t.Errorf("%s: message %s stored twice", mailbox, id)
		}
		out[id] = fullMsg{flags: m.FlagNames(), date: m.InternalDate, raw: raw}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameFlags(a, b []string) bool {
	return flagString(a) == flagString(b)
}

// compare checks that every source message (but those skipped) is in the destination with the
// same bytes, flags and internal date, and nothing else is.
func compare(t testing.TB, e *dest, account string, src map[string]map[string]fullMsg, mapping map[string]string, skip map[string]bool) {
	t.Helper()
	for folder, msgs := range src {
		got := e.destState(t, account, mapping[folder])
		want := 0
		for id, m := range msgs {
			if skip[id] {
				if _, ok := got[id]; ok {
					t.Errorf("%s: %s should have been skipped", folder, id)
				}
				continue
			}
			want++
			g, ok := got[id]
			switch {
			case !ok:
				t.Errorf("%s → %s: %s missing", folder, mapping[folder], id)
			case !bytes.Equal(g.raw, m.raw):
				t.Errorf("%s: %s body differs (%d vs %d bytes)", folder, id, len(g.raw), len(m.raw))
			case !sameFlags(g.flags, m.flags):
				t.Errorf("%s: %s flags %v, want %v", folder, id, g.flags, m.flags)
			case !g.date.Equal(m.date):
				t.Errorf("%s: %s internal date %v, want %v", folder, id, g.date, m.date)
			}
		}
		if len(got) != want {
			t.Errorf("%s → %s: %d messages, want %d", folder, mapping[folder], len(got), want)
		}
	}
}

// annaMsgs and the 60 of bruno make the 2 000 messages of varied sizes the migration is
// tested with, besides anna's message over the size limit.
const annaMsgs = 1940

func TestMigrateFromDovecot(t *testing.T) {
	dc := startDovecot(t, "anna@old.test", "Vecchia-1", "bruno@old.test", "Vecchia-2")
	anna := dc.login(t, "anna@old.test", "Vecchia-1")
	folders := fill(t, anna, annaMsgs, 1200000)
	bruno := dc.login(t, "bruno@old.test", "Vecchia-2")
	bFolders := fill(t, bruno, 60, 0)
	list, _ := anna.List("", "Progetti%", nil).Collect()
	d := string(list[0].Delim)
	mapping := map[string]string{"INBOX": "INBOX", "Posta inviata": "Sent", "Cestino": "Trash", "Progetti": "Progetti",
		"Progetti" + d + "2024": "Progetti/2024", "Café ☕" + d + "Ελληνικά": "Café ☕/Ελληνικά"}
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newDest(t, d)
		src := sourceState(t, anna, folders)
		skipBig := map[string]bool{"big@old.test": true}

		// Trial: the full report, nothing written.
		dry := e.create(t, dc, "anna@new.test", "anna@old.test", "Vecchia-1", func(r *Request) { r.DryRun = true })
		stop := e.runner(t)
		dj := e.wait(t, dry.ID)
		rep, err := e.svc.Report(e.sys, dj.ID)
		if err != nil {
			t.Fatal(err)
		}
		if dj.Status != StatusDone || rep.Plan == nil || !rep.Plan.QuotaSufficient || len(rep.Plan.TooLarge) != 1 || rep.Plan.NeededBytes == 0 {
			t.Fatalf("dry run: %+v plan %+v", dj, rep.Plan)
		}
		for _, f := range rep.Plan.Folders {
			if f.Dest != mapping[f.Source] && f.Skip == "" {
				t.Errorf("dry run maps %q to %q, want %q", f.Source, f.Dest, mapping[f.Source])
			}
		}
		if q, _ := e.store.Quota(context.Background(), mustAccount(t, e, "anna@new.test")); q.Messages != 0 || q.UsedBytes != 0 {
			t.Fatalf("dry run wrote: %+v", q)
		}

		// Two accounts at once; the runner is stopped half-way and started again.
		j := e.create(t, dc, "anna@new.test", "anna@old.test", "Vecchia-1", func(r *Request) { r.MaxMsgsPerSec = 400 })
		jb := e.create(t, dc, "bruno@new.test", "bruno@old.test", "Vecchia-2")
		deadline := time.Now().Add(30 * time.Second)
		for {
			cur, err := e.svc.Get(e.sys, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			if cur.Copied >= 200 || cur.Finished() || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		stop()
		mid, _ := e.svc.Get(e.sys, j.ID)
		if mid.Status != StatusQueued || mid.Copied == 0 || mid.Copied >= annaMsgs {
			t.Fatalf("after stopping the runner: status %s, %d copied", mid.Status, mid.Copied)
		}
		stop = e.runner(t)
		j = e.wait(t, j.ID)
		if j.Status != StatusDone || j.Failed != 0 {
			t.Fatalf("job: %+v", j)
		}
		total := 0
		for _, m := range src {
			total += len(m)
		}
		if j.Copied != int64(total-1) {
			t.Errorf("copied %d over two runs, want %d", j.Copied, total-1)
		}
		rep, err = e.svc.Report(e.sys, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Items) != 1 || rep.Items[0].Reason != "too-large" {
			t.Errorf("report items %+v, want the one message too large", rep.Items)
		}
		compare(t, e, "anna@new.test", src, mapping, skipBig)
		if jb = e.wait(t, jb.ID); jb.Status != StatusDone || jb.Copied != 60 {
			t.Errorf("second account: %+v", jb)
		}
		compare(t, e, "bruno@new.test", sourceState(t, bruno, bFolders), mapping, nil)
		if probs, err := e.store.Verify(context.Background()); err != nil || len(probs) > 0 {
			t.Fatalf("store verify: %v %v", probs, err)
		}
		var secrets int
		e.d.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM migration_jobs WHERE secret IS NOT NULL`).Scan(&secrets)
		if secrets != 0 {
			t.Errorf("%d finished jobs still hold the source password", secrets)
		}

		// A re-run copies nothing.
		again := e.wait(t, e.create(t, dc, "anna@new.test", "anna@old.test", "Vecchia-1").ID)
		if again.Status != StatusDone || again.Copied != 0 || again.FlagsSynced != 0 {
			t.Fatalf("re-run: %+v", again)
		}

		// New messages and changed flags on the source: a re-run copies the new ones and
		// syncs the flags.
		c := dc.login(t, "anna@old.test", "Vecchia-1")
		now := time.Now().Truncate(time.Second)
		for i := range 3 {
			appendMsg(t, c, "Progetti", testMessage(fmt.Sprintf("new-%s-%d", d.Engine, i), 3000), []imap.Flag{"Nuovo"}, now.Add(time.Duration(i)*time.Second))
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.SeqSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged, imap.Flag("Importante-" + d.Engine.String())}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsSet, Flags: []imap.Flag{imap.Flag("Solo-" + d.Engine.String())}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		c.Unselect().Wait()
		third := e.wait(t, e.create(t, dc, "anna@new.test", "anna@old.test", "Vecchia-1").ID)
		if third.Copied != 3 || third.FlagsSynced < 3 {
			t.Errorf("re-run after changes: copied %d, flags synced %d; want 3 and 3", third.Copied, third.FlagsSynced)
		}
		compare(t, e, "anna@new.test", sourceState(t, anna, folders), mapping, skipBig)

		// Quota too small: refused with the shortfall, nothing copied.
		small := e.wait(t, e.create(t, dc, "small@new.test", "anna@old.test", "Vecchia-1").ID)
		if small.Status != StatusFailed || small.ErrorKind != "quota-insufficient" || !strings.Contains(small.Error, "MB short") {
			t.Errorf("small quota: %s %s %q", small.Status, small.ErrorKind, small.Error)
		}
		if q, _ := e.store.Quota(context.Background(), mustAccount(t, e, "small@new.test")); q.Messages != 0 {
			t.Errorf("small quota: %d messages stored", q.Messages)
		}

		// Forced: what fits is copied, the rest fails with the reason, and the job ends.
		forced := e.wait(t, e.create(t, dc, "small@new.test", "bruno@old.test", "Vecchia-2", func(r *Request) { r.Force = true }).ID)
		frep, err := e.svc.Report(e.sys, forced.ID)
		if err != nil {
			t.Fatal(err)
		}
		overQuota := 0
		for _, it := range frep.Items {
			if it.Outcome == "failed" && it.Reason == "over-quota" {
				overQuota++
			}
		}
		if forced.Status != StatusDone || forced.Copied == 0 || forced.Failed == 0 || overQuota != int(forced.Failed) || forced.Copied+forced.Failed != 60 {
			t.Errorf("forced into a small quota: %s, %d copied, %d failed, %d over quota", forced.Status, forced.Copied, forced.Failed, overQuota)
		}
		var csv bytes.Buffer
		if err := frep.WriteCSV(&csv); err != nil || !strings.Contains(csv.String(), ",failed,over-quota,") {
			t.Errorf("CSV report: %v\n%s", err, csv.String())
		}

		// A wrong source password: a clear error.
		bad := e.wait(t, e.create(t, dc, "bruno@new.test", "bruno@old.test", "Sbagliata-9").ID)
		if bad.Status != StatusFailed || bad.ErrorKind != "source-login-failed" || !strings.Contains(bad.Error, "refused the login of bruno@old.test") {
			t.Errorf("wrong password: %s %s %q", bad.Status, bad.ErrorKind, bad.Error)
		}

		// A node that claimed a job and died (no release, no heartbeat): once its lease runs
		// out, another runner takes the job and finishes it.
		stop()
		orphan := e.create(t, dc, "bruno@new.test", "bruno@old.test", "Vecchia-2")
		if got, err := e.svc.claim(context.Background(), time.Now(), 10, 500*time.Millisecond); err != nil || len(got) != 1 || got[0].ID != orphan.ID {
			t.Fatalf("claim: %v %v", got, err)
		}
		e.runner(t)
		if o := e.wait(t, orphan.ID); o.Status != StatusDone || o.Attempts != 2 {
			t.Errorf("orphaned job: %s after %d attempts (%s)", o.Status, o.Attempts, o.Error)
		}
	})
}

func mustAccount(t testing.TB, e *dest, addr string) int64 {
	t.Helper()
	a, err := e.dir.GetAccount(e.sys, addr)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestCollectBodiesLimit: a body larger than the limit (a source whose listing understated a
// size) is read past and dropped, its size kept; the others arrive whole.
func TestCollectBodiesLimit(t *testing.T) {
	dc := startDovecot(t, "carla@old.test", "Vecchia-3")
	c := dc.login(t, "carla@old.test", "Vecchia-3")
	small, big := testMessage("piccolo", 500), testMessage("grande", 5000)
	appendMsg(t, c, "INBOX", small, nil, fillBase)
	appendMsg(t, c, "INBOX", big, nil, fillBase)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	bufs, err := collectBodies(c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(bufs) != 2 || !bufs[0].ok || !bytes.Equal(bufs[0].raw, small) || bufs[1].ok || bufs[1].raw != nil || bufs[1].size != int64(len(big)) {
		t.Fatalf("got %+v", bufs)
	}
	// The connection is still in step: the next command works.
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestRunnerWokenByCreate: a job created on the node starts at once, not at the runner's next
// look at the queue (an hour away here).
func TestRunnerWokenByCreate(t *testing.T) {
	dc := startDovecot(t, "dora@old.test", "Vecchia-4")
	e := newDest(t, dbtest.Open(t, dbtest.DSN(t, "sqlite")))
	e.runnerWith(t, RunnerOptions{Poll: time.Hour})
	time.Sleep(200 * time.Millisecond) // the runner's first look, at an empty queue
	j := e.create(t, dc, "anna@new.test", "dora@old.test", "Vecchia-4")
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := e.svc.Get(e.sys, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Finished() {
			if got.Status != StatusDone {
				t.Fatalf("job %s: %s", got.Status, got.Error)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s after 20 s: the runner was not woken", got.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
