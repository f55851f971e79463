package mailauth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// SPFResult is the result of an SPF check (RFC 7208 §2.6), spelled as in
// Authentication-Results and Received-SPF.
type SPFResult string

// SPF results.
const (
	SPFNone      SPFResult = "none"
	SPFNeutral   SPFResult = "neutral"
	SPFPass      SPFResult = "pass"
	SPFFail      SPFResult = "fail"
	SPFSoftFail  SPFResult = "softfail"
	SPFTempError SPFResult = "temperror"
	SPFPermError SPFResult = "permerror"
)

// Limits of RFC 7208 §4.6.4 and the overall time limit suggested by §4.6.4
// (20 seconds).
const (
	DefaultSPFLookupLimit     = 10
	DefaultSPFVoidLookupLimit = 2
	DefaultSPFTimeout         = 20 * time.Second

	// spfMaxAddrLookups bounds the address look-ups of one mx mechanism and
	// the names of one ptr mechanism or %{p} expansion.
	spfMaxAddrLookups = 10
)

// SPFChecker evaluates SPF. The zero value needs only a Resolver.
type SPFChecker struct {
	Resolver Resolver
	// Receiver is the receiving host's domain, for the %{r} macro in
	// explanations ("unknown" when empty).
	Receiver string
	// LookupLimit and VoidLookupLimit override the limits of RFC 7208
	// §4.6.4 (10 and 2) when positive.
	LookupLimit, VoidLookupLimit int
	// Timeout bounds a whole check (default 20 s).
	Timeout time.Duration
	// Now is the clock for the %{t} macro (default time.Now).
	Now func() time.Time
}

// CheckHost evaluates the SPF record of domain for a message from ip with
// MAIL FROM sender (a domain alone means postmaster at it) and HELO domain
// helo: check_host() of RFC 7208 §4. The explanation is the expanded exp=
// text when the result is fail and the record provides one. A non-nil
// error says why the result is temperror or permerror.
func CheckHost(ctx context.Context, r Resolver, ip netip.Addr, domain, sender, helo string) (SPFResult, string, error) {
	c := &SPFChecker{Resolver: r}
	return c.CheckHost(ctx, ip, domain, sender, helo)
}

// CheckHost is check_host() with the checker's settings; see CheckHost.
func (c *SPFChecker) CheckHost(ctx context.Context, ip netip.Addr, domain, sender, helo string) (SPFResult, string, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultSPFTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	local, origin := splitAddress(sender)
	if origin == "" {
		origin = domain
	}
	if local == "" {
		local = "postmaster"
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	e := &spfEval{
		r:         c.Resolver,
		ip:        ip.Unmap(),
		maxLookup: positive(c.LookupLimit, DefaultSPFLookupLimit),
		maxVoid:   positive(c.VoidLookupLimit, DefaultSPFVoidLookupLimit),
		env: macroEnv{
			sender:   local + "@" + origin,
			local:    local,
			origin:   origin,
			ip:       ip.Unmap(),
			helo:     helo,
			receiver: c.Receiver,
			now:      now().Unix(),
		},
	}
	e.env.ptr = e.validatedName
	res, exp, err := e.checkHost(ctx, domain)
	if err != nil && ctx.Err() != nil && res == SPFTempError {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return res, exp, err
}

// SPFOutcome is the SPF verdict on a message's sender.
type SPFOutcome struct {
	Result SPFResult
	// Identity is "mailfrom" or, for the null reverse-path, "helo".
	Identity string
	// Sender is the identity checked: the MAIL FROM address, or
	// postmaster@ the HELO domain.
	Sender string
	// Domain is the domain whose record was evaluated; DMARC aligns it.
	Domain      string
	Explanation string
	Err         error
}

// CheckSender checks the MAIL FROM identity of a message, or the HELO
// identity when MAIL FROM is the null reverse-path (RFC 7208 §2.4), which
// is what DMARC uses (RFC 7489 §4.1).
func (c *SPFChecker) CheckSender(ctx context.Context, ip netip.Addr, helo, mailFrom string) SPFOutcome {
	o := SPFOutcome{Identity: "mailfrom", Sender: mailFrom}
	_, domain := splitAddress(mailFrom)
	if mailFrom == "" || domain == "" {
		o.Identity = "helo"
		domain = strings.ToLower(strings.TrimSuffix(helo, "."))
		o.Sender = "postmaster@" + domain
	}
	o.Domain = domain
	o.Result, o.Explanation, o.Err = c.CheckHost(ctx, ip, domain, o.Sender, helo)
	return o
}

// splitAddress splits local@domain at the last "@"; a string without "@"
// is a domain.
func splitAddress(addr string) (local, domain string) {
	addr = strings.Trim(addr, "<>")
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", strings.ToLower(strings.TrimSuffix(addr, "."))
	}
	return addr[:i], strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}

func positive(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// spfEval is one check_host() evaluation with its lookup counters.
type spfEval struct {
	r         Resolver
	ip        netip.Addr
	env       macroEnv
	lookups   int
	voids     int
	maxLookup int
	maxVoid   int
	ptrCache  map[string]string
}

// spfError carries a temperror or permerror out of the evaluation.
type spfError struct {
	result SPFResult
	err    error
}

func (e *spfError) Error() string { return e.err.Error() }
func (e *spfError) Unwrap() error { return e.err }

func permErr(format string, args ...any) *spfError {
	return &spfError{SPFPermError, fmt.Errorf("spf: "+format, args...)}
}

func tempErr(format string, args ...any) *spfError {
	return &spfError{SPFTempError, fmt.Errorf("spf: "+format, args...)}
}

// checkHost evaluates the record of domain.
func (e *spfEval) checkHost(ctx context.Context, domain string) (SPFResult, string, error) {
	if !validCheckDomain(domain) {
		return SPFNone, "", fmt.Errorf("spf: %q is not a valid domain", domain)
	}
	txts, err := e.r.LookupTXT(ctx, domain)
	if err != nil {
		if isVoid(err) {
			return SPFNone, "", nil
		}
		return SPFTempError, "", fmt.Errorf("spf: TXT %s: %w", domain, err)
	}
	var records []string
	for _, t := range txts {
		if isSPFRecord(t) {
			records = append(records, t)
		}
	}
	switch len(records) {
	case 0:
		return SPFNone, "", nil
	case 1:
	default:
		return SPFPermError, "", fmt.Errorf("spf: %s has %d SPF records", domain, len(records))
	}
	rec, err := ParseSPF(records[0])
	if err != nil {
		return SPFPermError, "", fmt.Errorf("spf: record of %s: %w", domain, err)
	}
	saved := e.env.domain
	e.env.domain = domain
	defer func() { e.env.domain = saved }()

	for _, d := range rec.Directives {
		matched, err := e.match(ctx, d, domain)
		if err != nil {
			var se *spfError
			if errors.As(err, &se) {
				return se.result, "", se
			}
			return SPFTempError, "", err
		}
		if !matched {
			continue
		}
		res := qualifierResult(d.Qualifier)
		exp := ""
		if res == SPFFail && rec.exp != nil {
			exp = e.explain(ctx, rec.exp)
		}
		return res, exp, nil
	}
	if rec.redirect != nil {
		if err := e.countLookup(); err != nil {
			return SPFPermError, "", err
		}
		target := e.target(ctx, rec.redirect, domain)
		res, exp, err := e.checkHost(ctx, target)
		if res == SPFNone {
			return SPFPermError, "", fmt.Errorf("spf: redirect to %q: no SPF record", target)
		}
		return res, exp, err
	}
	return SPFNeutral, "", nil
}

func qualifierResult(q byte) SPFResult {
	switch q {
	case '-':
		return SPFFail
	case '~':
		return SPFSoftFail
	case '?':
		return SPFNeutral
	}
	return SPFPass
}

// countLookup counts a term that queries DNS.
func (e *spfEval) countLookup() error {
	e.lookups++
	if e.lookups > e.maxLookup {
		return permErr("more than %d DNS-querying terms", e.maxLookup)
	}
	return nil
}

// countVoid counts a look-up that found nothing.
func (e *spfEval) countVoid() error {
	e.voids++
	if e.voids > e.maxVoid {
		return permErr("more than %d void DNS look-ups", e.maxVoid)
	}
	return nil
}

// lookupFailed classifies a look-up error: a void answer is counted and
// means no match; anything else is a temperror.
func (e *spfEval) lookupFailed(what, name string, err error) error {
	if isVoid(err) {
		return e.countVoid()
	}
	return tempErr("%s %s: %w", what, name, err)
}

// target expands a domain-spec, or returns domain for an absent one.
func (e *spfEval) target(ctx context.Context, spec macroString, domain string) string {
	if spec == nil {
		return domain
	}
	return strings.ToLower(strings.TrimSuffix(truncateDomain(spec.expand(ctx, &e.env)), "."))
}

// match evaluates one mechanism (RFC 7208 §5).
func (e *spfEval) match(ctx context.Context, d SPFDirective, domain string) (bool, error) {
	switch d.Mechanism {
	case "all":
		return true, nil
	case "ip4":
		return e.ip.Is4() && d.Prefix.Contains(e.ip), nil
	case "ip6":
		return e.ip.Is6() && d.Prefix.Contains(e.ip), nil
	}
	if err := e.countLookup(); err != nil {
		return false, err
	}
	target := e.target(ctx, d.domain, domain)
	switch d.Mechanism {
	case "include":
		res, _, err := e.checkHost(ctx, target)
		switch res {
		case SPFPass:
			return true, nil
		case SPFFail, SPFSoftFail, SPFNeutral:
			return false, nil
		case SPFTempError:
			return false, &spfError{SPFTempError, fmt.Errorf("spf: include:%s: %w", target, err)}
		case SPFNone:
			return false, permErr("include:%s: no SPF record", target)
		default:
			return false, &spfError{SPFPermError, fmt.Errorf("spf: include:%s: %w", target, err)}
		}
	case "a":
		addrs, err := lookupAddrs(ctx, e.r, target, e.ip)
		if err != nil {
			return false, e.lookupFailed("address of", target, err)
		}
		return e.inAddrs(addrs, d), nil
	case "mx":
		hosts, err := e.r.LookupMX(ctx, target)
		if err != nil {
			return false, e.lookupFailed("MX", target, err)
		}
		if len(hosts) > spfMaxAddrLookups {
			return false, permErr("mx:%s: more than %d exchangers", target, spfMaxAddrLookups)
		}
		for _, h := range hosts {
			if h == "." || h == "" {
				continue // null MX
			}
			addrs, err := lookupAddrs(ctx, e.r, h, e.ip)
			if err != nil {
				if isVoid(err) {
					continue
				}
				return false, tempErr("address of MX %s: %w", h, err)
			}
			if e.inAddrs(addrs, d) {
				return true, nil
			}
		}
		return false, nil
	case "ptr":
		names, err := e.r.LookupPTR(ctx, e.ip)
		if err != nil {
			if isVoid(err) {
				return false, e.countVoid()
			}
			return false, nil // §5.5: a DNS error makes ptr not match
		}
		for _, n := range e.validate(ctx, names) {
			if n == target || strings.HasSuffix(n, "."+target) {
				return true, nil
			}
		}
		return false, nil
	case "exists":
		addrs, err := e.r.LookupA(ctx, target)
		if err != nil {
			return false, e.lookupFailed("A", target, err)
		}
		return len(addrs) > 0, nil
	}
	return false, permErr("unknown mechanism %q", d.Mechanism)
}

// inAddrs reports whether the client address is in one of the networks
// addrs with the directive's prefix lengths make.
func (e *spfEval) inAddrs(addrs []netip.Addr, d SPFDirective) bool {
	bits := d.CIDR6
	if e.ip.Is4() {
		bits = d.CIDR4
	}
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() != e.ip.Is4() {
			continue
		}
		if bits < 0 {
			if a == e.ip {
				return true
			}
			continue
		}
		if p, err := a.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}

// validate returns the names (at most 10) whose addresses include the
// client address, lower-case without trailing dots (RFC 7208 §5.5).
func (e *spfEval) validate(ctx context.Context, names []string) []string {
	var out []string
	for i, n := range names {
		if i >= spfMaxAddrLookups {
			break
		}
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		addrs, err := lookupAddrs(ctx, e.r, n, e.ip)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == e.ip {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// validatedName expands %{p}: a validated name of the client equal to
// domain, else one under it, else any, else "unknown" (RFC 7208 §7.3).
func (e *spfEval) validatedName(ctx context.Context, domain string) string {
	if v, ok := e.ptrCache[domain]; ok {
		return v
	}
	best := "unknown"
	if names, err := e.r.LookupPTR(ctx, e.ip); err == nil {
		valid := e.validate(ctx, names)
		for _, n := range valid {
			if n == domain {
				best = n
				break
			}
			if strings.HasSuffix(n, "."+domain) && (best == "unknown" || !strings.HasSuffix(best, "."+domain)) {
				best = n
			} else if best == "unknown" {
				best = n
			}
		}
	}
	if e.ptrCache == nil {
		e.ptrCache = make(map[string]string)
	}
	e.ptrCache[domain] = best
	return best
}

// explain fetches and expands the exp= explanation; any problem means no
// explanation (RFC 7208 §6.2).
func (e *spfEval) explain(ctx context.Context, spec macroString) string {
	name := e.target(ctx, spec, e.env.domain)
	if !validCheckDomain(name) {
		return ""
	}
	txts, err := e.r.LookupTXT(ctx, name)
	if err != nil || len(txts) != 1 {
		return ""
	}
	m, err := parseMacroString(txts[0], true)
	if err != nil {
		return ""
	}
	exp := m.expand(ctx, &e.env)
	for i := 0; i < len(exp); i++ {
		if exp[i] < 0x20 || exp[i] > 0x7e {
			return ""
		}
	}
	return exp
}

// validCheckDomain reports whether domain may be checked: a multi-label
// name without empty labels or labels over 63 octets, at most 253 octets
// (RFC 7208 §4.3).
func validCheckDomain(domain string) bool {
	if domain == "" || len(domain) > 253 || !strings.Contains(domain, ".") {
		return false
	}
	for _, l := range strings.Split(domain, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}
