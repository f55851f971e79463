// Package outbound delivers the outbound queue to other mail servers: it claims due entries,
// groups them by destination domain and message, finds the receiving servers (MX by preference,
// then the domain's own address), speaks SMTP to them, retries temporary failures with
// back-off, and tells senders about long delays and failures with RFC 3464 delivery status
// notifications — never to the null sender.
//
// It applies the TLS policy of each destination: DANE (RFC 7672) when the resolver says the
// server's addresses and TLSA records are DNSSEC-validated, else the domain's MTA-STS policy
// (RFC 8461, found through internal/mtasts), else opportunistic STARTTLS (RFC 7435). Messages
// sent with REQUIRETLS (RFC 8689) go only over TLS with a verified certificate to servers that
// take the flag on; "TLS-Required: No" waives MTA-STS and DANE. Every attempt records the
// policy and what the certificate check found.
//
// It owns the delivery attempts and their policy. The queue's storage is the queue package's;
// local delivery of the notifications is the Notifier's (the delivery pipeline).
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postamail/posta/internal/message"
	"github.com/postamail/posta/internal/mtasts"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/resolver"
)

// Resolver finds receiving servers and their TLSA records (internal/resolver).
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]resolver.MX, resolver.Result, error)
	LookupIP(ctx context.Context, host string) ([]netip.Addr, resolver.Result, error)
	LookupTLSA(ctx context.Context, port int, proto, host string) ([]resolver.TLSA, resolver.Result, error)
}

// Policies finds the MTA-STS policy of a domain (internal/mtasts); nil when it has none.
type Policies interface {
	Policy(ctx context.Context, domain string) (*mtasts.Policy, error)
}

// Notifier delivers a notification (a DSN) from the null sender to a sender's address: into
// a local mailbox, or back into the queue for a remote one.
type Notifier interface {
	Notify(ctx context.Context, to string, raw []byte) error
}

// Config configures delivery.
type Config struct {
	Hostname string // EHLO name and the DSN's reporting MTA
	Workers  int    // destinations served at once (default 16)
	// PerDomain is how many connections a destination gets at once when many of its
	// messages are waiting, one for every 10 messages (default 4).
	PerDomain int
	Port      int // SMTP port of receiving servers (default 25)
	// Routes send a domain's mail to a fixed host:port instead of its MX ("*" for every
	// domain: a smarthost).
	Routes map[string]string
	// Retry is the wait after each failed attempt; the last one repeats (default 5m, 10m,
	// 20m, 40m, 1h20m, then every 2h).
	Retry []time.Duration
	// GiveUp is how long a message is retried before it fails (default 5 days), DelayWarning
	// when the sender is told it is still trying (default 4 hours; 0 turns the warning off).
	GiveUp, DelayWarning time.Duration
	// TLS is the base of the STARTTLS configuration (versions, client certificate). The
	// certificate is always checked by the policy, never by the handshake: opportunistic
	// delivery (RFC 7435) encrypts whatever is offered and records whether the certificate
	// verified; MTA-STS, DANE and REQUIRETLS refuse servers that fail their checks.
	TLS *tls.Config
	// RootCAs verify certificates for MTA-STS and REQUIRETLS (nil: the system's roots).
	RootCAs *x509.CertPool
	// MTASTS finds MTA-STS policies (nil: MTA-STS is not applied).
	MTASTS Policies
	// DANE is applied whenever the resolver says a server's addresses and TLSA records are
	// DNSSEC-validated (its AD bit): the resolver's upstream must be a validating resolver
	// reached over a trusted path, in practice on loopback.

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

	idleMu sync.Mutex
	idle   map[connKey][]*idleConn // connections kept for the next round (conncache.go)
}

// New returns a runner.
func New(cfg Config, q *queue.Queue, res Resolver, n Notifier) *Runner {
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.PerDomain <= 0 {
		cfg.PerDomain = 4
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
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.RootCAs == nil {
		cfg.RootCAs = cfg.TLS.RootCAs // nil still: the system's roots
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
	return &Runner{cfg: cfg, q: q, res: res, notify: n, log: cfg.Logger, kick: make(chan struct{}, 1), idle: map[connKey][]*idleConn{}}
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
	defer r.CloseIdle(true)
	for {
		n := r.RunOnce(ctx)
		r.CloseIdle(false)
		if n > 0 {
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
	st := r.newSettler(ctx)
	defer st.close()
	sem := make(chan struct{}, r.cfg.Workers)
	var wg sync.WaitGroup
	for domain, its := range byDomain {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r.deliverDomain(ctx, st, domain, its)
		}()
	}
	wg.Wait()
	return len(items)
}

// target is one receiving server to try: its addresses and the TLS policy for it.
type target struct {
	addrs []string // host:port
	conn  connPolicy
	skip  *Reply // the policy refuses this server without connecting
}

// targets returns the servers to try for a domain, in order, each with its TLS policy: DANE
// when its addresses and TLSA records are DNSSEC-validated (RFC 7672, before MTA-STS), else the
// domain's MTA-STS policy (RFC 8461), else opportunistic TLS.
func (r *Runner) targets(ctx context.Context, domain string) ([]target, *Reply) {
	route, ok := r.cfg.Routes[domain]
	if !ok {
		route, ok = r.cfg.Routes["*"]
	}
	if ok {
		host, _, _ := net.SplitHostPort(route)
		return []target{{addrs: []string{route}, conn: connPolicy{name: host, policy: "route"}}}, nil
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
	var sts *mtasts.Policy
	if r.cfg.MTASTS != nil {
		if sts, err = r.cfg.MTASTS.Policy(ctx, domain); err != nil {
			return nil, asReply(err)
		}
	}
	var out []target
	var lastErr error
	for _, n := range names {
		addrs, res, err := r.res.LookupIP(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		t := target{conn: connPolicy{name: n, policy: "opportunistic"}}
		for _, a := range addrs {
			t.addrs = append(t.addrs, net.JoinHostPort(a.String(), port))
		}
		if res.Authentic {
			// RFC 7672 §2.2: secure addresses, so the TLSA records decide.
			rrs, tres, err := r.res.LookupTLSA(ctx, 25, "tcp", n)
			switch {
			case err == nil && tres.Authentic:
				if usable := usableTLSA(rrs); len(usable) > 0 {
					t.conn.policy, t.conn.tlsa, t.conn.enforce = "dane", usable, true
				}
			case err != nil && !errors.Is(err, resolver.ErrNotFound) && !errors.Is(err, resolver.ErrNoData):
				t.conn.policy = "dane"
				t.skip = policyFailure("TLSA look-up of %s failed: %v", n, err)
			}
		}
		if t.conn.policy != "dane" && sts != nil {
			switch {
			case sts.Mode == mtasts.ModeEnforce && !sts.Matches(n):
				t.conn.policy = "mta-sts-enforce"
				t.skip = policyFailure("MX %s is not in the MTA-STS policy of %s", n, domain)
			case sts.Mode == mtasts.ModeEnforce:
				t.conn.policy, t.conn.enforce = "mta-sts-enforce", true
			case sts.Mode == mtasts.ModeTesting:
				t.conn.policy = "mta-sts-testing"
				if !sts.Matches(n) {
					t.conn.note = "failed: MX " + n + " is not in the MTA-STS policy"
				}
			}
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		if len(mxs) == 0 && (errors.Is(lastErr, resolver.ErrNotFound) || errors.Is(lastErr, resolver.ErrNoData)) {
			return nil, &Reply{Code: 550, Enhanced: "5.1.2", Text: "domain " + domain + " has no mail server"}
		}
		return nil, &Reply{Code: 451, Enhanced: "4.4.4", Text: "no address for the mail servers of " + domain}
	}
	return out, nil
}

// How a message's TLS wishes change the policy of its delivery.
type tlsMode int

const (
	tlsNormal   tlsMode = iota
	tlsRequired         // REQUIRETLS (RFC 8689 §4.2.1)
	tlsRelaxed          // "TLS-Required: No" (RFC 8689 §5): MTA-STS and DANE failures do not block
)

// outcome is what is recorded of an attempt besides the reply.
type outcome struct {
	host, tls, policy, result string
}

// deliverDomain delivers a domain's entries — over one connection, or a few when many are
// waiting — with one transaction per message, all its recipients at that domain together.
// REQUIRETLS messages and messages that waive the TLS policy go over their own connections.
func (r *Runner) deliverDomain(ctx context.Context, st *settler, domain string, items []queue.Item) {
	targets, fail := r.targets(ctx, domain)
	if fail != nil {
		for _, it := range items {
			st.settle(it, fail, outcome{policy: "none"})
		}
		return
	}
	byMode := map[tlsMode][]queue.Item{}
	waived := map[int64]bool{}
	for _, it := range items {
		m := tlsNormal
		if it.RequireTLS {
			m = tlsRequired
		} else {
			w, ok := waived[it.BlobID]
			if !ok {
				w = r.tlsWaived(ctx, it)
				waived[it.BlobID] = w
			}
			if w {
				m = tlsRelaxed
			}
		}
		byMode[m] = append(byMode[m], it)
	}
	for _, m := range []tlsMode{tlsNormal, tlsRequired, tlsRelaxed} {
		if len(byMode[m]) > 0 {
			r.deliverVia(ctx, st, domain, targets, m, byMode[m])
		}
	}
}

// tlsWaived reports whether the message carries "TLS-Required: No" (RFC 8689 §5).
func (r *Runner) tlsWaived(ctx context.Context, it queue.Item) bool {
	body, err := r.q.Open(ctx, it)
	if err != nil {
		return false
	}
	defer body.Close()
	buf := make([]byte, 64<<10)
	n, _ := io.ReadFull(body, buf)
	h, _ := message.ParseHeader(buf[:n])
	return strings.EqualFold(strings.TrimSpace(h.Get("TLS-Required")), "No")
}

// deliverVia delivers a destination's messages of one TLS mode, over several connections
// when many are waiting.
func (r *Runner) deliverVia(ctx context.Context, st *settler, domain string, targets []target, mode tlsMode, items []queue.Item) {
	type msgKey struct {
		blob int64
		from string
	}
	index := map[msgKey]int{}
	var groups []msgGroup
	for _, it := range items {
		k := msgKey{it.BlobID, it.From}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, msgGroup{from: it.From})
		}
		groups[i].items = append(groups[i].items, it)
	}
	// Up to PerDomain connections, one for every msgsPerConn messages; a message's
	// recipients stay together.
	n := min(r.cfg.PerDomain, (len(groups)+msgsPerConn-1)/msgsPerConn)
	if n <= 1 {
		r.deliverConn(ctx, st, domain, targets, mode, groups)
		return
	}
	parts := make([][]msgGroup, n)
	for i, g := range groups {
		parts[i%n] = append(parts[i%n], g)
	}
	var wg sync.WaitGroup
	for _, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.deliverConn(ctx, st, domain, targets, mode, part)
		}()
	}
	wg.Wait()
}

// msgsPerConn is how many messages waiting for a destination call for one more connection
// to it (up to Config.PerDomain).
const msgsPerConn = 10

// msgGroup is one message and its recipients at a destination: one transaction.
type msgGroup struct {
	from  string
	items []queue.Item
}

// deliverConn sends messages over one connection: the idle one kept from a previous round
// to the destination, else a new one to the first target that takes it under the policy
// and the messages' TLS mode.
func (r *Runner) deliverConn(ctx context.Context, st *settler, domain string, targets []target, mode tlsMode, groups []msgGroup) {
	var last, lastOther *Reply // lastOther: the last failure that was not a policy refusal
	var lastOut, lastOtherOut outcome
	refused, tried := 0, 0
	key := connKey{domain, mode}
	c := r.takeIdle(key, targets)
	for _, t := range targets {
		if c != nil {
			break
		}
		p := t.conn.forMode(mode, t.skip != nil)
		if t.skip != nil && mode != tlsRelaxed {
			last, lastOut = t.skip, outcome{host: p.name, policy: p.policy, result: "failed: " + t.skip.Text}
			refused++
			tried++
			r.log.Info("outbound: server refused by policy", "host", p.name, "policy", p.policy, "reason", t.skip.Text)
			continue
		}
		for _, h := range t.addrs {
			tried++
			cl, err := dial(ctx, h, r.cfg.Hostname, p, r.cfg.TLS, r.cfg.RootCAs, r.cfg.DialTimeout, time.Time{})
			var he *handshakeError
			if errors.As(err, &he) && !p.enforce && !p.requireTLS {
				// Opportunistic TLS that cannot be negotiated: deliver in clear (RFC 7435 §4).
				r.log.Info("outbound: TLS handshake failed, trying in clear", "host", h, "name", p.name, "err", err)
				plain := p
				plain.clear = true
				cl, err = dial(ctx, h, r.cfg.Hostname, plain, r.cfg.TLS, r.cfg.RootCAs, r.cfg.DialTimeout, time.Time{})
			}
			if err == nil {
				c = cl
				break
			}
			last = asReply(err)
			lastOut = outcome{host: h, policy: p.policy}
			if last.Enhanced == "4.7.5" || last.Enhanced == "5.7.30" {
				refused++
				lastOut.result = "failed: " + last.Text
			} else {
				lastOther, lastOtherOut = last, lastOut
			}
			r.log.Info("outbound: connect", "host", h, "name", p.name, "policy", p.policy, "err", err)
		}
		if c != nil {
			break
		}
	}
	if c == nil {
		switch {
		case mode == tlsRequired && refused == tried && tried > 0 && last.Enhanced != "5.7.30":
			// Every server was refused for want of TLS: the message cannot go (RFC 8689).
			last = requireTLSFailure("%s", last.Text)
		case mode == tlsRequired && refused < tried && lastOther != nil:
			// A server that could not be reached may yet take it: try again later.
			last, lastOut = lastOther, lastOtherOut
		}
		for _, g := range groups {
			for _, it := range g.items {
				st.settle(it, last, lastOut)
			}
		}
		return
	}
	reuse := true
	defer func() {
		if reuse {
			r.putIdle(key, c)
		} else {
			c.close()
		}
	}()
	out := outcome{host: c.conn.RemoteAddr().String(), tls: c.tls, policy: c.policy, result: c.result}
	if mode == tlsRequired {
		out.policy = "requiretls+" + c.policy
	}
	for gi, g := range groups {
		its := g.items
		rcpts := make([]string, len(its))
		for i, it := range its {
			rcpts[i] = it.To
		}
		body, err := r.q.Open(ctx, its[0])
		if err != nil {
			for _, it := range its {
				st.settle(it, asReply(fmt.Errorf("message body: %w", err)), out)
			}
			continue
		}
		size, _ := body.Seek(0, 2)
		body.Seek(0, 0)
		errs, err := c.send(g.from, rcpts, body, size, needsUTF8(g.from, rcpts), mode == tlsRequired)
		body.Close()
		for i, it := range its {
			var rep *Reply
			switch {
			case err != nil:
				rep = asReply(err)
			case errs[i] != nil:
				rep = asReply(errs[i])
			}
			st.settle(it, rep, out)
		}
		var rep *Reply
		if err == nil || errors.As(err, &rep) && rep.Code != 421 {
			continue // the server answered: the session goes on
		}
		// The connection broke (or the server is closing it): the messages not sent yet
		// wait for the next attempt, with the reason recorded.
		reuse = false
		for _, g := range groups[gi+1:] {
			for _, it := range g.items {
				st.settle(it, asReply(fmt.Errorf("connection to %s lost before this message: %w", out.host, err)), out)
			}
		}
		return
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
