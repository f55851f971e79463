package outbound_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/certs"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/outbound"
	"github.com/postamail/posta/internal/queue"
)

// countingReceiver is a receiving MTA on loopback that accepts everything over STARTTLS and
// notes when it answered 250 to each recipient's message.
type countingReceiver struct {
	mu    sync.Mutex
	done  map[string]time.Time // recipient -> end of DATA
	clear int                  // transactions not over TLS
	all   chan struct{}
	want  int
}

func (rc *countingReceiver) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &countingSession{rc: rc, c: c}, nil
}

type countingSession struct {
	rc    *countingReceiver
	c     *smtp.Conn
	rcpts []string
}

func (s *countingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *countingSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *countingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	now := time.Now()
	_, isTLS := s.c.TLSConnectionState()
	s.rc.mu.Lock()
	defer s.rc.mu.Unlock()
	if !isTLS {
		s.rc.clear++
	}
	for _, to := range s.rcpts {
		if _, dup := s.rc.done[to]; !dup {
			s.rc.done[to] = now
		}
	}
	if len(s.rc.done) == s.rc.want {
		close(s.rc.all)
	}
	s.rcpts = nil
	return nil
}
func (s *countingSession) Reset()        { s.rcpts = nil }
func (s *countingSession) Logout() error { return nil }

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// benchMessage is an 8 KiB message to one recipient.
func benchMessage(i int, to string) []byte {
	head := fmt.Sprintf("From: Anna <anna@posta.test>\r\nTo: <%s>\r\nSubject: newsletter %d\r\nMessage-ID: <bench%d@posta.test>\r\n"+
		"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", to, i, i)
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n"
	body := strings.Repeat(line, (8192-len(head))/len(line)+1)
	return []byte(head + body[:8192-len(head)])
}

// BenchmarkOutbound delivers 1 000 messages of 8 KiB, one per recipient, 100 recipients in
// each of 10 domains, from the durable queue to a receiver on loopback with STARTTLS.
//
// live: 8 producers enqueue the messages while the runner delivers. msgs/s counts from the
// first enqueue to the last 250; the queue latency of a message runs from the end of its
// Enqueue to the receiver's 250 (p50, p99); enqueued/s is how fast the producers could queue
// meanwhile. backlog: the 1 000 are queued first; msgs/s and the latencies count from the
// runner's start, so they measure delivery alone. conns/op is the connections the receiver
// saw.
//
//	go test -run '^$' -bench Outbound -benchtime 1x ./internal/outbound
func BenchmarkOutbound(b *testing.B) {
	b.Run("live", func(b *testing.B) { benchOutbound(b, false) })
	b.Run("backlog", func(b *testing.B) { benchOutbound(b, true) })
}

func benchOutbound(b *testing.B, backlog bool) {
	const domains, perDomain, producers = 10, 100, 8
	dbtest.ForEachB(b, func(b *testing.B, d *db.DB) {
		dir := b.TempDir()
		if _, err := certs.EnsureSelfSigned(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), []string{"mx.remote.test"}); err != nil {
			b.Fatal(err)
		}
		cs, err := certs.NewStore(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"))
		if err != nil {
			b.Fatal(err)
		}
		bs, err := blob.Open(filepath.Join(dir, "blobs"))
		if err != nil {
			b.Fatal(err)
		}
		q := queue.New(d, bs)
		var rates, enqRates, p50s, p99s []float64
		var conns int
		b.StopTimer()
		for round := 0; round < b.N; round++ {
			rc := &countingReceiver{done: map[string]time.Time{}, all: make(chan struct{}), want: domains * perDomain}
			srv := smtp.NewServer(rc)
			srv.Domain = "mx.remote.test"
			srv.TLSConfig = cs.TLSConfig()
			srv.MaxRecipients = 1000
			srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ln := &countingListener{Listener: l}
			go srv.Serve(ln)
			routes := map[string]string{}
			type job struct {
				to  string
				raw []byte
			}
			var jobs []job
			for dn := 0; dn < domains; dn++ {
				dom := fmt.Sprintf("r%d-d%d.test", round, dn)
				routes[dom] = ln.Addr().String()
			}
			// Interleave the domains as a mailing list would.
			for u := 0; u < perDomain; u++ {
				for dn := 0; dn < domains; dn++ {
					to := fmt.Sprintf("user%d@r%d-d%d.test", u, round, dn)
					jobs = append(jobs, job{to, benchMessage(len(jobs)+round*domains*perDomain, to)})
				}
			}
			r := outbound.New(outbound.Config{
				Hostname: "mail.posta.test", Routes: routes, TLS: &tls.Config{InsecureSkipVerify: true},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}, q, nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			var runWG sync.WaitGroup
			run := func() {
				runWG.Add(1)
				go func() { defer runWG.Done(); r.Run(ctx) }()
			}
			enqueued := make([]time.Time, len(jobs))
			enqueue := func() {
				var wg sync.WaitGroup
				for p := 0; p < producers; p++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := p; i < len(jobs); i += producers {
							if err := q.Enqueue(ctx, "anna@posta.test", []string{jobs[i].to}, jobs[i].raw, 0); err != nil {
								b.Error(err)
								return
							}
							enqueued[i] = time.Now()
							r.Kick()
						}
					}()
				}
				wg.Wait()
			}
			var start time.Time
			if backlog {
				enqueue()
				b.StartTimer()
				start = time.Now()
				for i := range enqueued {
					enqueued[i] = start
				}
				run()
			} else {
				run()
				b.StartTimer()
				start = time.Now()
				enqueue()
				enqRates = append(enqRates, float64(len(jobs))/time.Since(start).Seconds())
			}
			select {
			case <-rc.all:
			case <-time.After(5 * time.Minute):
				b.Fatalf("round %d: %d of %d delivered after 5 minutes", round, len(rc.done), len(jobs))
			}
			b.StopTimer()
			cancel()
			runWG.Wait()
			srv.Close()

			rc.mu.Lock()
			var last time.Time
			lat := make([]float64, len(jobs))
			for i, j := range jobs {
				at := rc.done[j.to]
				if at.After(last) {
					last = at
				}
				lat[i] = float64(at.Sub(enqueued[i])) / float64(time.Millisecond)
			}
			if rc.clear > 0 {
				b.Errorf("%d transactions in clear", rc.clear)
			}
			conns += int(ln.n.Load())
			rc.mu.Unlock()
			slices.Sort(lat)
			rates = append(rates, float64(len(jobs))/last.Sub(start).Seconds())
			p50s = append(p50s, lat[len(lat)/2])
			p99s = append(p99s, lat[len(lat)*99/100])
		}
		b.ReportMetric(mean(rates), "msgs/s")
		if !backlog {
			b.ReportMetric(mean(enqRates), "enqueued/s")
		}
		b.ReportMetric(mean(p50s), "p50-ms")
		b.ReportMetric(mean(p99s), "p99-ms")
		b.ReportMetric(float64(conns)/float64(b.N), "conns/op")
	})
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
