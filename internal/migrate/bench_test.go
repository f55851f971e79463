package migrate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/postamail/posta/internal/corpus"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
)

// benchSource is one Dovecot account filled once for all the benchmarks of a run.
var benchSource struct {
	once    sync.Once
	dc      *dovecot
	folders []string
	msgs    int
	bytes   int64
}

// benchMessages is how many messages the benchmark migrates (POSTA_BENCH_MIGRATE_MSGS).
func benchMessages() int {
	if n, err := strconv.Atoi(os.Getenv("POSTA_BENCH_MIGRATE_MSGS")); err == nil && n > 0 {
		return n
	}
	return 20000
}

func sourceForBench(b *testing.B) {
	benchSource.once.Do(func() {
		dc := startDovecot(b, "bench@old.test", "Bench-1")
		c := dc.login(b, "bench@old.test", "Bench-1")
		n := benchMessages()
		benchSource.folders = fillWith(b, c, n, corpus.New().Message)
		benchSource.dc, benchSource.msgs = dc, n
		for _, f := range benchSource.folders {
			st, err := c.Status(f, &imap.StatusOptions{Size: true}).Wait()
			if err != nil {
				b.Fatal(err)
			}
			benchSource.bytes += *st.Size
		}
	})
	if benchSource.dc == nil {
		b.Skip("no Dovecot")
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMigrate migrates 20 000 messages (the corpus's: text, text with HTML, attachments;
// in six folders) from a local Dovecot into a fresh SQLite destination with the job runner
// (pipelined FETCHes, folders in parallel, a commit per batch), again with the source behind a
// provider's bandwidth, and compares them with the source's own pace and with a plain
// sequential copy: one UID FETCH and one store append (and commit) per message.
func BenchmarkMigrate(b *testing.B) {
	sourceForBench(b)
	report := func(b *testing.B, elapsed time.Duration) {
		secs := elapsed.Seconds() / float64(b.N)
		b.ReportMetric(float64(benchSource.msgs)/secs, "msgs/s")
		b.ReportMetric(float64(benchSource.bytes)/(1<<20)/secs, "MB/s")
		b.ReportMetric(0, "ns/op")
	}
	// runner migrates with the job runner and reports the share of one core this process
	// (posta's side: runner, store, database; Dovecot runs in its own) used while migrating.
	runner := func(b *testing.B) {
		var elapsed, cpu time.Duration
		for b.Loop() {
			e := newBenchDest(b)
			start, cpu0 := time.Now(), processCPU()
			stop := e.runnerWith(b, RunnerOptions{Folders: benchFolders()})
			j := e.wait(b, e.create(b, benchSource.dc, benchAccount, "bench@old.test", "Bench-1").ID)
			elapsed, cpu = elapsed+time.Since(start), cpu+processCPU()-cpu0
			stop()
			if j.Status != StatusDone || j.Copied != int64(benchSource.msgs) {
				b.Fatalf("job: %s, %d copied of %d (%s)", j.Status, j.Copied, benchSource.msgs, j.Error)
			}
		}
		report(b, elapsed)
		b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu%")
		b.ReportMetric(cpu.Seconds()*1000/float64(b.N*benchSource.msgs), "cpu-ms/msg")
	}
	b.Run("runner", runner)
	// linked: the source answers over a link of a provider's bandwidth (its port shaped on
	// loopback), and posta's share of a core at the rate that link allows is the measure.
	b.Run(fmt.Sprintf("linked-%dMbit", benchLinkMbit()), func(b *testing.B) {
		shapeSource(b, benchSource.dc.port, benchLinkMbit())
		runner(b)
	})
	b.Run("source", func(b *testing.B) {
		// The source's own pace: every folder fetched at once, the bodies read and dropped,
		// nothing stored. The runner cannot go faster than this on the same machine.
		var elapsed time.Duration
		for b.Loop() {
			start := time.Now()
			n := fetchAll(b, benchSource.dc, benchSource.folders)
			elapsed += time.Since(start)
			if n != benchSource.msgs {
				b.Fatalf("fetched %d of %d", n, benchSource.msgs)
			}
		}
		report(b, elapsed)
	})
	b.Run("sequential", func(b *testing.B) {
		var elapsed time.Duration
		for b.Loop() {
			e := newBenchDest(b)
			acc := mustAccount(b, e, benchAccount)
			start := time.Now()
			n := sequentialCopy(b, e, acc, benchSource.dc, benchSource.folders)
			elapsed += time.Since(start)
			if n != benchSource.msgs {
				b.Fatalf("copied %d of %d", n, benchSource.msgs)
			}
		}
		report(b, elapsed)
	})
}

// fetchAll reads the body of every message of the folders, one connection per folder, all at
// once, and returns how many it read.
func fetchAll(b *testing.B, dc *dovecot, folders []string) int {
	var wg sync.WaitGroup
	counts := make([]int, len(folders))
	for i, f := range folders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", dc.port), nil)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			if err := c.Login("bench@old.test", "Bench-1").Wait(); err != nil {
				b.Error(err)
				return
			}
			if _, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				b.Error(err)
				return
			}
			var all imap.UIDSet
			all.AddRange(1, 0)
			cmd := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
			bufs, err := collectBodies(cmd, 1<<30)
			if err != nil {
				b.Error(err)
				return
			}
			counts[i] = len(bufs)
		}()
	}
	wg.Wait()
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// sequentialCopy is the plain way: for each message in turn, UID FETCH its body, flags and
// date, and append it to the store.
func sequentialCopy(b *testing.B, e *dest, acc int64, dc *dovecot, folders []string) int {
	ctx := context.Background()
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", dc.port), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bench@old.test", "Bench-1").Wait(); err != nil {
		b.Fatal(err)
	}
	n := 0
	for i, f := range folders {
		if _, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			b.Fatal(err)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		uids, err := c.Fetch(all, &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			b.Fatal(err)
		}
		mb, err := e.store.CreateMailbox(ctx, acc, fmt.Sprintf("copy%d", i), "")
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range uids {
			bufs, err := c.Fetch(imap.UIDSetNum(u.UID), &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil || len(bufs) != 1 {
				b.Fatalf("fetch %d: %v", u.UID, err)
			}
			var names []string
			for _, fl := range bufs[0].Flags {
				names = append(names, string(fl))
			}
			fl, kw := mailstore.SplitFlags(names)
			if _, err := e.store.Append(ctx, acc, mb.ID, bufs[0].BodySection[0].Bytes, fl, kw, bufs[0].InternalDate); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	return n
}

// benchLinkMbit is the bandwidth of the source's link in the linked run, in Mbit/s
// (POSTA_BENCH_MIGRATE_LINK_MBIT; default 80).
func benchLinkMbit() int {
	if n, err := strconv.Atoi(os.Getenv("POSTA_BENCH_MIGRATE_LINK_MBIT")); err == nil && n > 0 {
		return n
	}
	return 80
}

// shapeSource makes what the source sends (the packets leaving its port on loopback) cross a
// link of mbit Mbit/s, as a provider's answers would: an HTB class for that port, the rest of
// loopback left at full speed, all removed when b ends. It needs root and tc, and loopback
// without a queueing discipline of its own; b is skipped otherwise.
func shapeSource(b *testing.B, port, mbit int) {
	if os.Geteuid() != 0 {
		b.Skip("shaping the source's link needs root")
	}
	if out, err := exec.Command("tc", "qdisc", "show", "dev", "lo").Output(); err != nil || !bytes.HasPrefix(out, []byte("qdisc noqueue")) {
		b.Skipf("loopback's queueing cannot be set here (tc: %v, %q; a run killed midway leaves its own: tc qdisc del dev lo root)", err, out)
	}
	tc := func(args ...string) error {
		if out, err := exec.Command("tc", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("tc %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	b.Cleanup(func() { tc("qdisc", "del", "dev", "lo", "root") })
	for _, args := range [][]string{
		{"qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10"},
		{"class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "100gbit"},
		{"class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb", "rate", fmt.Sprintf("%dmbit", mbit), "ceil", fmt.Sprintf("%dmbit", mbit)},
		{"filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "sport", strconv.Itoa(port), "0xffff", "flowid", "1:20"},
	} {
		if err := tc(args...); err != nil {
			b.Skipf("shaping the source's link: %v", err)
		}
	}
}

// benchFolders is the folders copied at once (POSTA_BENCH_MIGRATE_FOLDERS; default the
// runner's).
func benchFolders() int {
	n, _ := strconv.Atoi(os.Getenv("POSTA_BENCH_MIGRATE_FOLDERS"))
	return n
}

// benchAccount is the destination account of the benchmark, with room for the whole source.
const benchAccount = "archivio@new.test"

func newBenchDest(b *testing.B) *dest {
	e := newDest(b, dbtest.Open(b, dbtest.DSN(b, "sqlite")))
	if _, err := e.dir.CreateCOS(e.sys, directory.COSSpec{Name: "Archivio", ServiceType: "custom", QuotaMB: 16 << 10, Features: []string{"mail"}, MaxMessageSize: 29 << 20}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.dir.CreateAccount(e.sys, directory.AccountSpec{Address: benchAccount, Password: "Grande-Pass-1", COS: "Archivio"}); err != nil {
		b.Fatal(err)
	}
	return e
}
