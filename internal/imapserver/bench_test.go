package imapserver

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchMailbox fills mario's INBOX with n messages of about 4 KB and returns a selected client.
func benchMailbox(b *testing.B, n int) (*testEnv, *client) {
	e := setup(b)
	ctx := context.Background()
	inbox, _ := e.store.Mailbox(ctx, e.accounts["mario@x.test"], "INBOX")
	if _, err := e.store.DB().ExecContext(ctx, `UPDATE cos SET quota_bytes = ?`, int64(1)<<40); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				raw := fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: mario@x.test\r\nSubject: Message number %d about things\r\nDate: Sun, 10 Mar 2024 12:00:00 +0100\r\nMessage-ID: <%d@example.org>\r\n\r\n%s\r\n", i%50, i%50, i, i, strings.Repeat("lorem ipsum dolor sit amet ", 150))
				if _, err := e.store.Append(ctx, e.accounts["mario@x.test"], inbox.ID, []byte(raw), 0, nil, time.Now()); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	c := login(b, e, "mario@x.test")
	c.ok("SELECT INBOX")
	return e, c
}

// BenchmarkFetchAllMetadata is what a client does on first sync: every message's flags,
// envelope, size and date.
func BenchmarkFetchAllMetadata(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u, st := c.do("UID FETCH 1:* (FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)")
		if len(u) != 5000 || !strings.HasPrefix(st, "OK") {
			b.Fatalf("%d responses, %s", len(u), st)
		}
	}
}

func BenchmarkSearchText(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ok("UID SEARCH TEXT \"number 4999 about\"")
	}
}

// BenchmarkStoreAll is "mark all as read" and back on 5000 messages.
func BenchmarkStoreAll(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ok(`UID STORE 1:* +FLAGS.SILENT (\Seen)`)
		c.ok(`UID STORE 1:* -FLAGS.SILENT (\Seen)`)
	}
}

// BenchmarkSelect opens a 5000-message mailbox.
func BenchmarkSelect(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ok("SELECT INBOX")
	}
}

func BenchmarkSearchFrom(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.ok(`UID SEARCH FROM "s7@example.org"`)
	}
}

// benchMessage is the i-th message of about 1.8 KB (the test accounts take at most 2000 bytes) the APPEND benchmarks store.
func benchMessage(i int) string {
	return fmt.Sprintf("From: Sender %d <s%d@example.org>\r\nTo: mario@x.test\r\nSubject: Appended %d\r\nMessage-ID: <a%d@example.org>\r\n\r\n%s\r\n", i%50, i%50, i, i, strings.Repeat("lorem ipsum dolor sit amet ", 60))
}

// BenchmarkAppend stores one message per APPEND command, as a client saving to Sent does.
func BenchmarkAppend(b *testing.B) {
	e := setup(b)
	if _, err := e.store.DB().ExecContext(context.Background(), `UPDATE cos SET quota_bytes = ?`, int64(1)<<40); err != nil {
		b.Fatal(err)
	}
	c := login(b, e, "mario@x.test")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := benchMessage(i)
		c.ok(fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m))
	}
}

// BenchmarkMultiAppend stores 100 messages per MULTIAPPEND command, as a migration or an
// upload of a folder does; reported per message.
func BenchmarkMultiAppend(b *testing.B) {
	e := setup(b)
	if _, err := e.store.DB().ExecContext(context.Background(), `UPDATE cos SET quota_bytes = ?`, int64(1)<<40); err != nil {
		b.Fatal(err)
	}
	c := login(b, e, "mario@x.test")
	b.ResetTimer()
	for i := 0; i < b.N; i += 100 {
		var cmd strings.Builder
		cmd.WriteString("APPEND INBOX")
		for j := i; j < i+100 && j < b.N; j++ {
			m := benchMessage(j)
			fmt.Fprintf(&cmd, " {%d+}\r\n%s", len(m), m)
		}
		c.ok(cmd.String())
	}
}

// BenchmarkFetchBodyRandom fetches whole messages by UID in random order, as a client opening
// messages does.
func BenchmarkFetchBodyRandom(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		uid := 1 + (i*7919)%5000
		u, st := c.do(fmt.Sprintf("UID FETCH %d BODY.PEEK[]", uid))
		if len(u) != 1 || !strings.HasPrefix(st, "OK") {
			b.Fatalf("%q %s", u, st)
		}
	}
}

// BenchmarkIdleConnections reports what an idle session costs the server: heap and goroutine
// stacks after a collection, per connection, with 1000 clients logged in, the 5000-message
// INBOX selected and IDLE running.
func BenchmarkIdleConnections(b *testing.B) {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < 4096 {
		lim.Cur = min(lim.Max, 8192)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	e, _ := benchMailbox(b, 5000)
	const n = 1000
	inUse := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	for i := 0; i < b.N; i++ {
		before := inUse()
		conns := make([]net.Conn, 0, n)
		for j := 0; j < n; j++ {
			c, _ := idleSession(b, e.addr)
			conns = append(conns, c)
		}
		time.Sleep(200 * time.Millisecond)
		after := inUse()
		// The client side's own buffers are in the same process: each bufio.Reader above is
		// 4 KiB, subtracted here.
		per := (float64(after) - float64(before)) / n
		b.ReportMetric(per-4096, "B/idle-conn")
		for _, c := range conns {
			c.Close()
		}
	}
}

// BenchmarkFetchBodies opens 100 messages picked at random, one UID FETCH BODY.PEEK[] each,
// as a client reading mail does.
func BenchmarkFetchBodies(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	r := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 100; j++ {
			c.ok(fmt.Sprintf("UID FETCH %d BODY.PEEK[]", 1+r.IntN(5000)))
		}
	}
}

// BenchmarkSearchBody looks for a word in no message's body: every body is read.
func BenchmarkSearchBody(b *testing.B) {
	_, c := benchMailbox(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u, st := c.do(`UID SEARCH BODY "zentravix"`)
		if !strings.HasPrefix(st, "OK") || len(u) != 1 || strings.TrimSpace(u[0]) != "* SEARCH" {
			b.Fatalf("%q %s", u, st)
		}
	}
}

// BenchmarkIdleFanout is the time from one new message in a mailbox to the moment every one
// of n sessions in IDLE on it has read its "* n EXISTS".
func BenchmarkIdleFanout(b *testing.B) {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < 4096 {
		lim.Cur = min(lim.Max, 8192)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			e, _ := benchMailbox(b, 1000)
			ctx := context.Background()
			inbox, err := e.store.Mailbox(ctx, e.accounts["mario@x.test"], "INBOX")
			if err != nil {
				b.Fatal(err)
			}
			seen := make(chan struct{}, n)
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for j := 0; j < n; j++ {
				c, r := idleSession(b, e.addr)
				conns = append(conns, c)
				go func() {
					for {
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if strings.HasSuffix(l, " EXISTS\r\n") {
							seen <- struct{}{}
						}
					}
				}()
			}
			raw := []byte("From: <s@example.org>\r\nTo: mario@x.test\r\nSubject: new\r\n\r\nnew mail\r\n")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.store.Append(ctx, e.accounts["mario@x.test"], inbox.ID, raw, 0, nil, time.Now()); err != nil {
					b.Fatal(err)
				}
				for k := 0; k < n; k++ {
					select {
					case <-seen:
					case <-time.After(30 * time.Second):
						b.Fatalf("%d of %d sessions saw the new message", k, n)
					}
				}
			}
		})
	}
}

// idleSession connects to addr, logs mario in, selects INBOX and starts IDLE; it returns the
// connection and its reader, positioned after the continuation.
func idleSession(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	r.ReadString('\n')
	fmt.Fprintf(c, "a LOGIN mario@x.test %s\r\nb SELECT INBOX\r\nc IDLE\r\n", pass)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(l, "+ ") {
			return c, r
		}
	}
}
