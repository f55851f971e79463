package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/config"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
)

// Open hands its metrics to the store, the delivery pipeline and the IMAP and POP3 servers:
// a delivery, and a wrong password over IMAP and over POP3, show on the /metrics it serves.
func TestMetricsWired(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default(dir, "mail.test", "127.0.0.1", 0)
	cfg.Database.DSN = "sqlite:" + filepath.Join(dir, "posta.db")
	cfg.Blob.Dir = filepath.Join(dir, "blobs")
	cfg.TLS = config.TLS{}
	cfg.Security.AllowInsecureAuth = true
	ctx := context.Background()
	s, err := Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	actx := directory.WithActor(ctx, directory.SystemActor("test"))
	if _, err := s.Directory.CreateTenant(actx, directory.TenantSpec{Name: "t", ContactEmail: "c@x.test", Contract: "payg"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Directory.AddDomain(actx, "t", "x.test", directory.DomainOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Directory.CreateAccount(actx, directory.AccountSpec{Address: "mario@x.test", Password: "Correct-Horse-42", COS: "Business Mail 100 MB"}); err != nil {
		t.Fatal(err)
	}
	if errs, err := s.Deliver.Deliver(ctx, &deliver.Envelope{From: "a@example.org", Rcpts: []string{"mario@x.test"}, Raw: []byte("Subject: hi\r\n\r\nhi\r\n")}); err != nil || errs[0] != nil {
		t.Fatalf("deliver: %v %v", err, errs)
	}

	// A wrong password on each protocol, each on its own loopback listener.
	for _, p := range []struct {
		serve func(ln net.Listener) error
		stop  func(context.Context) error
		lines []string
	}{
		{func(ln net.Listener) error { return s.IMAP.Serve(ctx, ln, false) }, s.IMAP.Shutdown, []string{"a LOGIN mario@x.test wrong"}},
		{func(ln net.Listener) error { return s.POP3.Serve(ctx, ln, false) }, s.POP3.Shutdown, []string{"USER mario@x.test", "PASS wrong"}},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go p.serve(ln)
		defer p.stop(ctx)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		greeting, _ := r.ReadString('\n')
		for _, l := range p.lines {
			c.Write([]byte(l + "\r\n"))
			if answer, err := r.ReadString('\n'); err != nil || !strings.Contains(answer, "OK") && !strings.Contains(answer, "failed") {
				t.Fatalf("after %q (greeting %q): %q %v", l, greeting, answer, err)
			}
		}
		c.Close()
	}

	rec := httptest.NewRecorder()
	s.httpHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	value := func(series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("/metrics lacks %s", series)
			return -1
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	for series, want := range map[string]float64{
		`posta_deliveries_total{result="stored"}`:   1,
		`posta_commit_batch_size_count`:             1,
		`posta_commit_seconds_count`:                1,
		`posta_connections_total{service="imap"}`:   1,
		`posta_auth_failures_total{service="imap"}`: 1,
		`posta_connections_total{service="pop3"}`:   1,
		`posta_auth_failures_total{service="pop3"}`: 1,
	} {
		if got := value(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}
