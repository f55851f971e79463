package observe

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postamail/posta/internal/resolver"
	"github.com/postamail/posta/internal/resolver/dnstest"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		format, level string
		ok            bool
		contains      string
	}{
		{"json", "info", true, `"msg":"hello"`},
		{"text", "debug", true, "msg=hello"},
		{"", "warn", true, ""},
		{"xml", "info", false, ""},
		{"text", "loud", false, ""},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l, err := NewLogger(&buf, tt.format, tt.level)
		if (err == nil) != tt.ok {
			t.Fatalf("NewLogger(%q, %q) err = %v", tt.format, tt.level, err)
		}
		if err != nil {
			continue
		}
		l.Info("hello")
		if !strings.Contains(buf.String(), tt.contains) {
			t.Errorf("%s/%s: output %q lacks %q", tt.format, tt.level, buf.String(), tt.contains)
		}
	}
}

func TestMetricsHandler(t *testing.T) {
	m := NewMetrics()
	m.Connections.WithLabelValues("smtp").Inc()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), `posta_connections_total{service="smtp"} 1`) {
		t.Fatalf("metrics output lacks the counter:\n%.500s", body)
	}
}

func TestResolverMetrics(t *testing.T) {
	zone := dnstest.Start(t, `
example.test.          300 IN SOA ns.example.test. h.example.test. 1 3600 600 86400 60
signed.example.test.   300 IN A   192.0.2.1
`, "signed.example.test")
	r := resolver.New(resolver.Config{Upstreams: []string{zone.Addr}, Timeout: time.Second, Attempts: 1})
	m := NewMetrics()
	m.RegisterResolver(r.Stats)
	ctx := context.Background()
	r.LookupA(ctx, "signed.example.test")
	r.LookupA(ctx, "signed.example.test")
	r.LookupA(ctx, "missing.example.test")
	r.LookupA(ctx, "missing.example.test")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"posta_dns_lookups_total 4\n",
		"posta_dns_cache_hits_total 2\n",
		"posta_dns_cache_negative_hits_total 1\n",
		"posta_dns_exchanges_total 2\n",
		"posta_dns_authentic_answers_total 1\n",
		"posta_dns_cache_entries 2\n",
		"posta_dns_timeouts_total 0\n",
		"posta_dns_upstream_failures_total 0\n",
		"# TYPE posta_dns_lookups_total counter\n",
		"# TYPE posta_dns_cache_entries gauge\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("hunter2"); strings.Contains(got, "hunter2") {
		t.Fatalf("Redact leaked the secret: %q", got)
	}
}

// histogram returns the number of observations of a histogram without labels and their sum.
func histogram(t *testing.T, h prometheus.Histogram) (count uint64, sum float64) {
	t.Helper()
	r := prometheus.NewPedanticRegistry()
	r.MustRegister(h)
	mfs, err := r.Gather()
	if err != nil || len(mfs) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	s := mfs[0].GetMetric()[0].GetHistogram()
	return s.GetSampleCount(), s.GetSampleSum()
}

func TestMetricsMethods(t *testing.T) {
	m := NewMetrics()
	m.Committed(3, 20*time.Millisecond)
	m.Committed(1, 2*time.Millisecond)
	if n, sum := histogram(t, m.CommitBatch); n != 2 || sum != 4 {
		t.Errorf("commit batch: %d samples, sum %v; want 2, 4", n, sum)
	}
	if n, sum := histogram(t, m.CommitSeconds); n != 2 || sum < 0.0219 || sum > 0.0221 {
		t.Errorf("commit seconds: %d samples, sum %v; want 2, 0.022", n, sum)
	}
	m.Delivered("stored")
	m.Delivered("stored")
	m.Delivered("overquota")
	m.SessionOpened("imap")
	m.SessionOpened("imap")
	m.SessionClosed("imap")
	m.SessionOpened("pop3s")
	m.AuthFailed("pop3s")
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"stored", testutil.ToFloat64(m.Deliveries.WithLabelValues("stored")), 2},
		{"overquota", testutil.ToFloat64(m.Deliveries.WithLabelValues("overquota")), 1},
		{"imap connections", testutil.ToFloat64(m.Connections.WithLabelValues("imap")), 2},
		{"imap sessions", testutil.ToFloat64(m.ActiveSessions.WithLabelValues("imap")), 1},
		{"pop3s sessions", testutil.ToFloat64(m.ActiveSessions.WithLabelValues("pop3s")), 1},
		{"pop3s auth failures", testutil.ToFloat64(m.AuthFailures.WithLabelValues("pop3s")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"posta_commit_seconds_count 2\n", "posta_commit_batch_size_sum 4\n", `posta_commit_seconds_bucket{le="0.001"} 0` + "\n", `posta_commit_seconds_bucket{le="10"} 2` + "\n"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Packages hold their observer as an interface that may wrap a nil *Metrics.
	var none *Metrics
	none.Committed(1, time.Second)
	none.Delivered("stored")
	none.SessionOpened("smtp")
	none.SessionClosed("smtp")
	none.AuthFailed("smtp")
}
