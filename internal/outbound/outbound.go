// Package outbound delivers the outbound queue to other mail servers: it claims due entries,
// groups them by destination domain and message, finds the receiving servers (MX by preference,
// then the domain's own address), speaks SMTP to them with opportunistic STARTTLS, retries
// temporary failures with back-off, and tells senders about long delays and failures with
// RFC 3464 delivery status notifications — never to the null sender.
//
// It owns the delivery attempts and their policy. The queue's storage is the queue package's;
// local delivery of the notifications is the Notifier's (the delivery pipeline).
package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/resolver"
)

// Resolver finds receiving servers (internal/resolver).
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]resolver.MX, resolver.Result, error)
	LookupIP(ctx context.Context, host string) ([]netip.Addr, resolver.Result, error)
}

// Notifier delivers a notification (a DSN) from the null sender to a sender's address: into
// a local mailbox, or back into the queue for a remote one.
type Notifier interface {
	Notify(ctx context.Context, to string, raw []byte) error
}

// Config configures delivery.
type Config struct {
	Hostname string // EHLO name and the DSN's reporting MTA
	Workers  int    // destinations served at once (default 8)
	Port     int    // SMTP port of receiving servers (default 25)
	// Routes send a domain's mail to a fixed host:port instead of its MX ("*" for every
	// domain: a smarthost).
	Routes map[string]string
	// Retry is the wait after each failed attempt; the last one repeats (default 5m, 10m,
	// 20m, 40m, 1h20m, then every 2h).
	Retry []time.Duration
	// GiveUp is how long a message is retried before it fails (default 5 days), DelayWarning
	// when the sender is told it is still trying (default 4 hours; 0 turns the warning off).
	GiveUp, DelayWarning time.Duration
	// TLS is used for STARTTLS. Nil means opportunistic: encrypt whenever offered, without
	// checking the certificate (RFC 7435); MTA-STS and DANE decide when to check.
	TLS         *tls.Config
	DialTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Runner delivers the queue until its context ends.
type Runner struct {
	cfg    Config
	q      *queue.Queue
	res    Resolver
	notify Notifier
	log    *slog.Logger
	kick   chan struct{}
}

// New returns a runner.
func New(cfg Config, q *queue.Queue, res Resolver, n Notifier) *Runner {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	if len(cfg.Retry) == 0 {
		cfg.Retry = []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute, 80 * time.Minute, 2 * time.Hour}
	}
	if cfg.GiveUp == 0 {
		cfg.GiveUp = 5 * 24 * time.Hour
	}
	if cfg.DelayWarning == 0 {
		cfg.DelayWarning = 4 * time.Hour
	}
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Runner{cfg: cfg, q: q, res: res, notify: n, log: cfg.Logger, kick: make(chan struct{}, 1)}
}

// Kick makes the runner look at the queue now (after an enqueue).
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, looking at the queue when kicked and at least every second.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if n := r.RunOnce(ctx); n > 0 {
			continue // there may be more due
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-t.C:
		}
	}
}

// RunOnce claims what is due, delivers it and returns how many entries it handled.
func (r *Runner) RunOnce(ctx context.Context) int {
	items, err := r.q.Claim(ctx, r.cfg.Now(), 200, 10*time.Minute)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("outbound: claim", "err", err)
		}
		return 0
	}
	byDomain := map[string][]queue.Item{}
	for _, it := range items {
		byDomain[it.Domain] = append(byDomain[it.Domain], it)
	}
	sem := make(chan struct{}, r.cfg.Workers)
	var wg sync.WaitGroup
	for domain, its := range byDomain {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.deliverDomain(ctx, domain, its)
		}()
	}
	wg.Wait()
	return len(items)
}

// hosts returns the addresses to try for a domain, in order.
func (r *Runner) hosts(ctx context.Context, domain string) ([]string, *Reply) {
	if route, ok := r.cfg.Routes[domain]; ok {
		return []string{route}, nil
	}
	if route, ok := r.cfg.Routes["*"]; ok {
		return []string{route}, nil
	}
	port := strconv.Itoa(r.cfg.Port)
	mxs, _, err := r.res.LookupMX(ctx, domain)
	switch {
	case errors.Is(err, resolver.ErrNotFound):
		return nil, &Reply{Code: 550, Enhanced: "5.1.2", Text: "domain " + domain + " does not exist"}
	case err != nil && !errors.Is(err, resolver.ErrNoData):
		return nil, &Reply{Code: 451, Enhanced: "4.4.3", Text: "DNS lookup of " + domain + " failed: " + err.Error()}
	}
	if len(mxs) == 1 && mxs[0].Host == "." {
		return nil, &Reply{Code: 556, Enhanced: "5.1.10", Text: domain + " accepts no mail (null MX, RFC 7505)"}
	}
	// Equal preferences are tried in random order (RFC 5321 §5.1).
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	var names []string
	for _, mx := range mxs {
		names = append(names, mx.Host)
	}
	if len(names) == 0 {
		names = []string{domain} // implicit MX (RFC 5321 §5.1)
	}
	var out []string
	var lastErr error
	for _, n := range names {
		addrs, _, err := r.res.LookupIP(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		for _, a := range addrs {
			out = append(out, net.JoinHostPort(a.String(), port))
		}
	}
	if len(out) == 0 {
		if len(mxs) == 0 && (errors.Is(lastErr, resolver.ErrNotFound) || errors.Is(lastErr, resolver.ErrNoData)) {
			return nil, &Reply{Code: 550, Enhanced: "5.1.2", Text: "domain " + domain + " has no mail server"}
		}
		return nil, &Reply{Code: 451, Enhanced: "4.4.4", Text: "no address for the mail servers of " + domain}
	}
	return out, nil
}

// deliverDomain delivers a domain's entries over one connection when it can: one transaction
// per message, with all its recipients at that domain.
func (r *Runner) deliverDomain(ctx context.Context, domain string, items []queue.Item) {
	hosts, fail := r.hosts(ctx, domain)
	if fail != nil {
		for _, it := range items {
			r.settle(ctx, it, fail, "", "")
		}
		return
	}
	type msgKey struct {
		blob int64
		from string
	}
	groups := map[msgKey][]queue.Item{}
	var order []msgKey
	for _, it := range items {
		k := msgKey{it.BlobID, it.From}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], it)
	}
	var c *client
	var last *Reply
	for _, h := range hosts {
		host, _, _ := net.SplitHostPort(h)
		cl, err := dial(ctx, h, host, r.cfg.Hostname, r.cfg.TLS, r.cfg.DialTimeout)
		if err == nil {
			c = cl
			break
		}
		last = asReply(err)
		r.log.Info("outbound: connect", "domain", domain, "host", h, "err", err)
	}
	if c == nil {
		for _, it := range items {
			r.settle(ctx, it, last, strings.Join(hosts, " "), "")
		}
		return
	}
	defer c.close()
	for _, k := range order {
		its := groups[k]
		rcpts := make([]string, len(its))
		for i, it := range its {
			rcpts[i] = it.To
		}
		body, err := r.q.Open(ctx, its[0])
		if err != nil {
			for _, it := range its {
				r.settle(ctx, it, asReply(fmt.Errorf("message body: %w", err)), c.host, c.tls)
			}
			continue
		}
		size, _ := body.Seek(0, 2)
		body.Seek(0, 0)
		errs, err := c.send(k.from, rcpts, body, size, needsUTF8(k.from, rcpts))
		body.Close()
		for i, it := range its {
			var rep *Reply
			switch {
			case err != nil:
				rep = asReply(err)
			case errs[i] != nil:
				rep = asReply(errs[i])
			}
			r.settle(ctx, it, rep, c.conn.RemoteAddr().String(), c.tls)
		}
		if err != nil {
			return // the connection is in an unknown state
		}
	}
}

func needsUTF8(from string, rcpts []string) bool {
	for _, s := range append(rcpts, from) {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return true
			}
		}
	}
	return false
}

// settle records the outcome of an attempt for one entry: delivered (rep nil), failed for
// good (5xx, or retried too long) with a DSN, or deferred (with a delay warning once).
func (r *Runner) settle(ctx context.Context, it queue.Item, rep *Reply, host, tlsState string) {
	now := r.cfg.Now()
	a := queue.Attempt{At: now.UnixMilli(), Host: host, TLS: tlsState, Code: 250, Response: "delivered"}
	if rep != nil {
		a.Code, a.Response = rep.Code, rep.Error()
	}
	if err := r.q.RecordAttempt(ctx, it.ID, a); err != nil {
		r.log.Warn("outbound: record attempt", "id", it.ID, "err", err)
	}
	switch {
	case rep == nil:
		r.log.Info("outbound: delivered", "id", it.ID, "to", it.To, "host", host, "tls", tlsState)
		r.finish(ctx, it, "delivered", "250 delivered to "+host)
	case !rep.Temporary() || now.Sub(it.CreatedAt) >= r.cfg.GiveUp:
		r.log.Info("outbound: failed", "id", it.ID, "to", it.To, "reply", rep.Error())
		r.finish(ctx, it, "failed", rep.Error())
		r.sendDSN(ctx, it, rep, host, false)
	default:
		warned := it.DelayWarned
		if !warned && r.cfg.DelayWarning > 0 && now.Sub(it.CreatedAt) >= r.cfg.DelayWarning {
			r.sendDSN(ctx, it, rep, host, true)
			warned = true
		}
		wait := r.cfg.Retry[min(it.Attempts, len(r.cfg.Retry)-1)]
		r.log.Info("outbound: deferred", "id", it.ID, "to", it.To, "reply", rep.Error(), "retry_in", wait)
		if err := r.q.Defer(ctx, it, now.Add(wait), rep.Error(), warned); err != nil {
			r.log.Error("outbound: defer", "id", it.ID, "err", err)
		}
	}
}

func (r *Runner) finish(ctx context.Context, it queue.Item, status, response string) {
	if err := r.q.Finish(ctx, it.ID, status, response); err != nil {
		r.log.Error("outbound: finish", "id", it.ID, "status", status, "err", err)
	}
}
