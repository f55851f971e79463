package observe

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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
