package observe

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
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

func TestRedact(t *testing.T) {
	if got := Redact("hunter2"); strings.Contains(got, "hunter2") {
		t.Fatalf("Redact leaked the secret: %q", got)
	}
}
