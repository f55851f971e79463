package mailauth

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// DMARCResult is the DMARC verdict, spelled as in Authentication-Results.
type DMARCResult string

// DMARC results.
const (
	DMARCNone      DMARCResult = "none" // no policy published
	DMARCPass      DMARCResult = "pass"
	DMARCFail      DMARCResult = "fail"
	DMARCTempError DMARCResult = "temperror"
	DMARCPermError DMARCResult = "permerror"
)

// ErrNoDMARCRecord is returned by LookupDMARC when neither the domain nor
// its organizational domain publishes a usable record.
var ErrNoDMARCRecord = errors.New("dmarc: no policy record")

// OrganizationalDomain returns the organizational domain of domain (RFC 7489
// §3.2): its public suffix, by the Public Suffix List, plus one label. A
// public suffix, or a name the list cannot place, is its own
// organizational domain.
func OrganizationalDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	org, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return domain
	}
	return org
}

// Aligned reports whether domains a and b are aligned in mode (RFC 7489
// §3.1): equal for strict, of the same organizational domain for relaxed.
func Aligned(a, b string, mode Alignment) bool {
	a = strings.ToLower(strings.TrimSuffix(a, "."))
	b = strings.ToLower(strings.TrimSuffix(b, "."))
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	return mode != AlignStrict && OrganizationalDomain(a) == OrganizationalDomain(b)
}

// LookupDMARC finds the DMARC record for the RFC5322.From domain: at
// _dmarc.<domain>, then at _dmarc.<organizational domain> (RFC 7489
// §6.6.3). It returns the record and the domain it was found at. No record,
// or several, is ErrNoDMARCRecord; a DNS failure is wrapped as is; a record
// that does not parse is a *DMARCSyntaxError.
func LookupDMARC(ctx context.Context, r Resolver, domain string) (*DMARCRecord, string, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	rec, err := lookupDMARCAt(ctx, r, domain)
	if errors.Is(err, ErrNoDMARCRecord) {
		if org := OrganizationalDomain(domain); org != domain {
			rec, err = lookupDMARCAt(ctx, r, org)
			return rec, org, err
		}
	}
	return rec, domain, err
}

func lookupDMARCAt(ctx context.Context, r Resolver, domain string) (*DMARCRecord, error) {
	txts, err := r.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if isVoid(err) {
			return nil, fmt.Errorf("%w at _dmarc.%s", ErrNoDMARCRecord, domain)
		}
		return nil, fmt.Errorf("dmarc: TXT _dmarc.%s: %w", domain, err)
	}
	var records []string
	for _, t := range txts {
		if isDMARCRecord(t) {
			records = append(records, t)
		}
	}
	if len(records) != 1 {
		return nil, fmt.Errorf("%w at _dmarc.%s (%d records)", ErrNoDMARCRecord, domain, len(records))
	}
	return ParseDMARC(records[0])
}

// DMARCInput is what DMARC evaluation combines.
type DMARCInput struct {
	// From is the domain of the RFC5322.From address.
	From string
	// SPF is the SPF result for SPFDomain, the MAIL FROM domain (or the
	// HELO domain for the null reverse-path).
	SPF       SPFResult
	SPFDomain string
	// DKIM holds the result of each DKIM signature.
	DKIM []DKIMResult
	// FromNonexistent says the From domain does not exist in DNS, which
	// selects the np policy when the record has one.
	FromNonexistent bool
}

// DMARCOutcome is the result of DMARC evaluation.
type DMARCOutcome struct {
	Result DMARCResult
	// From is the RFC5322.From domain evaluated.
	From string
	// Disposition is what the policy asks for this message: none for a
	// pass or without a policy, else the policy, lowered one step when
	// the message falls outside pct.
	Disposition DMARCPolicy
	// Policy is the published policy that applies to From, and PolicyTag
	// the tag it came from ("p", "sp" or "np").
	Policy    DMARCPolicy
	PolicyTag string
	// Sampled is false when pct excluded the failing message from the
	// policy.
	Sampled bool
	// SPFAligned and DKIMAligned report aligned passes; DKIMDomain is the
	// d= of the first aligned passing signature.
	SPFAligned  bool
	DKIMAligned bool
	DKIMDomain  string
	// Record is the policy record, found at RecordDomain.
	Record       *DMARCRecord
	RecordDomain string
	Err          error
}

// DMARCChecker finds and evaluates DMARC policies.
type DMARCChecker struct {
	Resolver Resolver
	// Sample returns a number in [0, 100) deciding whether a failing
	// message falls within pct (default: random).
	Sample func() int
}

// Check looks up the policy for in.From and evaluates it.
func (c *DMARCChecker) Check(ctx context.Context, in DMARCInput) DMARCOutcome {
	rec, at, err := LookupDMARC(ctx, c.Resolver, in.From)
	if err != nil {
		o := DMARCOutcome{From: in.From, Disposition: DMARCPolicyNone, Err: err}
		var syn *DMARCSyntaxError
		switch {
		case errors.Is(err, ErrNoDMARCRecord):
			o.Result = DMARCNone
		case errors.As(err, &syn):
			o.Result = DMARCPermError
		default:
			o.Result = DMARCTempError
		}
		return o
	}
	return c.Evaluate(rec, at, in)
}

// Evaluate applies rec, found at recordDomain, to in (RFC 7489 §6.6):
// DMARC passes when SPF passes for a domain aligned with From or a DKIM
// signature passes for an aligned d=.
func (c *DMARCChecker) Evaluate(rec *DMARCRecord, recordDomain string, in DMARCInput) DMARCOutcome {
	from := strings.ToLower(strings.TrimSuffix(in.From, "."))
	o := DMARCOutcome{From: from, Record: rec, RecordDomain: recordDomain, Sampled: true}

	o.Policy, o.PolicyTag = rec.Policy, "p"
	switch {
	case in.FromNonexistent && rec.NonexistentPolicy != "":
		o.Policy, o.PolicyTag = rec.NonexistentPolicy, "np"
	case from != recordDomain && rec.SubdomainPolicy != "":
		o.Policy, o.PolicyTag = rec.SubdomainPolicy, "sp"
	}

	o.SPFAligned = in.SPF == SPFPass && Aligned(in.SPFDomain, from, rec.SPFAlignment)
	for _, d := range in.DKIM {
		if d.Result == DKIMPass && Aligned(d.Domain, from, rec.DKIMAlignment) {
			o.DKIMAligned, o.DKIMDomain = true, strings.ToLower(d.Domain)
			break
		}
	}
	if o.SPFAligned || o.DKIMAligned {
		o.Result, o.Disposition = DMARCPass, DMARCPolicyNone
		return o
	}
	o.Result, o.Disposition = DMARCFail, o.Policy
	if rec.Percent < 100 && o.Policy != DMARCPolicyNone {
		sample := c.Sample
		if sample == nil {
			sample = func() int { return rand.IntN(100) }
		}
		if sample() >= rec.Percent {
			o.Sampled = false
			if o.Policy == DMARCPolicyReject {
				o.Disposition = DMARCPolicyQuarantine
			} else {
				o.Disposition = DMARCPolicyNone
			}
		}
	}
	return o
}
