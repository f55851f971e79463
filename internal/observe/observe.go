// Package observe builds posta's structured logger (log/slog, text or JSON) and its Prometheus
// metrics registry. It owns the metric definitions that several packages share; a package that
// wants a metric takes it from the Metrics value it is given, never from a global registry.
// It must not log secrets: Redact is the helper for values that may carry them.
package observe

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns a logger writing to w in format "text" or "json" at level "debug", "info",
// "warn" or "error".
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("observe: log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("observe: log format %q: expected text or json", format)
}

// Metrics holds the registry and the metrics shared across services. Its methods are what the
// packages that report to it declare as their observer interfaces (mailstore.Observer,
// deliver.Observer, imapserver.Observer, pop3server.Observer); they do nothing on a nil *Metrics.
type Metrics struct {
	Registry *prometheus.Registry

	// Connections counts accepted connections by service (smtp, submission, submissions, imap,
	// imaps, pop3, pop3s).
	Connections *prometheus.CounterVec
	// ActiveSessions is the number of open connections by service.
	ActiveSessions *prometheus.GaugeVec
	// Deliveries counts what the delivery pipeline did with a message for a local mailbox, by
	// result (stored, overquota, ...; the fixed set is internal/deliver's).
	Deliveries *prometheus.CounterVec
	// AuthFailures counts failed logins by service.
	AuthFailures *prometheus.CounterVec
	// CommitBatch observes how many deliveries one group commit carried.
	CommitBatch prometheus.Histogram
	// CommitSeconds observes how long one group commit took (blob sync and transaction).
	CommitSeconds prometheus.Histogram
	// DNSBLChecks counts DNS block list look-ups of clients, by zone and result (listed,
	// clean, error).
	DNSBLChecks *prometheus.CounterVec
}

// NewMetrics returns a registry with Go runtime and process collectors and posta's metrics.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		Registry: r,
		Connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posta_connections_total", Help: "Connections accepted, by service.",
		}, []string{"service"}),
		ActiveSessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "posta_sessions_active", Help: "Open sessions, by service.",
		}, []string{"service"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posta_deliveries_total", Help: "Messages delivered to mailboxes, by result.",
		}, []string{"result"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posta_auth_failures_total", Help: "Failed logins, by service.",
		}, []string{"service"}),
		CommitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "posta_commit_batch_size", Help: "Deliveries per group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		CommitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "posta_commit_seconds", Help: "Duration of one group commit of deliveries (blob sync and transaction).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		DNSBLChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posta_dnsbl_checks_total", Help: "DNS block list look-ups of SMTP clients, by zone and result (listed, clean, error).",
		}, []string{"zone", "result"}),
	}
	r.MustRegister(m.Connections, m.ActiveSessions, m.Deliveries, m.AuthFailures, m.CommitBatch, m.CommitSeconds, m.DNSBLChecks)
	return m
}

// Committed records one group commit of n deliveries that took d.
func (m *Metrics) Committed(n int, d time.Duration) {
	if m == nil {
		return
	}
	m.CommitBatch.Observe(float64(n))
	m.CommitSeconds.Observe(d.Seconds())
}

// Delivered counts one delivery to a local mailbox with its result.
func (m *Metrics) Delivered(result string) {
	if m == nil {
		return
	}
	m.Deliveries.WithLabelValues(result).Inc()
}

// SessionOpened counts a connection accepted by service and one more open session.
func (m *Metrics) SessionOpened(service string) {
	if m == nil {
		return
	}
	m.Connections.WithLabelValues(service).Inc()
	m.ActiveSessions.WithLabelValues(service).Inc()
}

// SessionClosed counts one open session of service less.
func (m *Metrics) SessionClosed(service string) {
	if m == nil {
		return
	}
	m.ActiveSessions.WithLabelValues(service).Dec()
}

// AuthFailed counts a failed login on service.
func (m *Metrics) AuthFailed(service string) {
	if m == nil {
		return
	}
	m.AuthFailures.WithLabelValues(service).Inc()
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Redact returns a value safe to log in place of a secret: its length only.
func Redact(secret string) string {
	return fmt.Sprintf("[redacted %d bytes]", len(secret))
}
