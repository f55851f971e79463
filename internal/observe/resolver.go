package observe

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postamail/posta/internal/resolver"
)

// resolverCollector exports a resolver's counters, read once per scrape.
type resolverCollector struct {
	stats   func() resolver.Stats
	metrics []resolverMetric
}

type resolverMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(resolver.Stats) float64
}

// RegisterResolver exports the counters that stats returns (a Resolver's Stats method) as
// posta_dns_* metrics, read at each scrape. Cache misses are posta_dns_lookups_total minus
// posta_dns_cache_hits_total.
func (m *Metrics) RegisterResolver(stats func() resolver.Stats) {
	counter := func(name, help string, v func(resolver.Stats) uint64) resolverMetric {
		return resolverMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue,
			func(s resolver.Stats) float64 { return float64(v(s)) }}
	}
	c := &resolverCollector{stats: stats, metrics: []resolverMetric{
		counter("posta_dns_lookups_total", "DNS questions asked of the resolver's cache, CNAME targets included.",
			func(s resolver.Stats) uint64 { return s.Lookups }),
		counter("posta_dns_cache_hits_total", "DNS questions answered from the cache, positive or negative.",
			func(s resolver.Stats) uint64 { return s.CacheHits }),
		counter("posta_dns_cache_negative_hits_total", "Cache hits that were NXDOMAIN or NODATA answers.",
			func(s resolver.Stats) uint64 { return s.NegativeHits }),
		counter("posta_dns_shared_total", "DNS questions that waited for an identical question in flight.",
			func(s resolver.Stats) uint64 { return s.Shared }),
		counter("posta_dns_exchanges_total", "Queries sent to the upstream resolvers, UDP and TCP.",
			func(s resolver.Stats) uint64 { return s.Exchanges }),
		counter("posta_dns_tcp_fallbacks_total", "Truncated UDP answers asked again over TCP.",
			func(s resolver.Stats) uint64 { return s.TCPFallbacks }),
		counter("posta_dns_timeouts_total", "Exchanges with an upstream resolver that timed out.",
			func(s resolver.Stats) uint64 { return s.Timeouts }),
		counter("posta_dns_upstream_failures_total", "SERVFAIL, REFUSED and other failure answers from upstream resolvers.",
			func(s resolver.Stats) uint64 { return s.ServFails }),
		counter("posta_dns_temporary_failures_total", "DNS questions that ended without a definite answer.",
			func(s resolver.Stats) uint64 { return s.Temporary }),
		counter("posta_dns_authentic_answers_total", "Upstream answers carrying the AD bit (validated with DNSSEC).",
			func(s resolver.Stats) uint64 { return s.Authentic }),
		counter("posta_dns_cache_evictions_total", "Cache entries evicted to make room.",
			func(s resolver.Stats) uint64 { return s.Evictions }),
		{prometheus.NewDesc("posta_dns_cache_entries", "DNS answers in the cache now.", nil, nil), prometheus.GaugeValue,
			func(s resolver.Stats) float64 { return float64(s.Entries) }},
	}}
	m.Registry.MustRegister(c)
}

func (c *resolverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *resolverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}
