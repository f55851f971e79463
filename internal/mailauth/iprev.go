package mailauth

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// IPRevOutcome is the result of the reverse DNS check of a client address
// (RFC 8601 §3): its PTR names confirmed by forward look-ups.
type IPRevOutcome struct {
	// Result is "pass" (a name maps back to the address), "fail" (none
	// does), "temperror" or "permerror" (no PTR record).
	Result string
	Addr   netip.Addr
	// Names are the confirmed names, lower-case without trailing dots.
	Names []string
	Err   error
}

// CheckIPRev looks up the PTR names of ip and confirms each (at most ten)
// with an address look-up.
func CheckIPRev(ctx context.Context, r Resolver, ip netip.Addr) IPRevOutcome {
	ip = ip.Unmap()
	o := IPRevOutcome{Addr: ip}
	names, err := r.LookupPTR(ctx, ip)
	if err != nil {
		if isVoid(err) {
			o.Result, o.Err = "permerror", fmt.Errorf("iprev: no PTR record for %s: %w", ip, err)
		} else {
			o.Result, o.Err = "temperror", fmt.Errorf("iprev: PTR %s: %w", ip, err)
		}
		return o
	}
	temporary := false
	for i, n := range names {
		if i >= spfMaxAddrLookups {
			break
		}
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		addrs, err := lookupAddrs(ctx, r, n, ip)
		if err != nil {
			if !isVoid(err) {
				temporary = true
				o.Err = fmt.Errorf("iprev: addresses of %s: %w", n, err)
			}
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == ip {
				o.Names = append(o.Names, n)
				break
			}
		}
	}
	switch {
	case len(o.Names) > 0:
		o.Result, o.Err = "pass", nil
	case temporary:
		o.Result = "temperror"
	default:
		o.Result = "fail"
		o.Err = fmt.Errorf("iprev: no PTR name of %s maps back to it", ip)
	}
	return o
}

// AuthResult returns the iprev result with policy.iprev and the first
// confirmed name in a comment.
func (o IPRevOutcome) AuthResult() AuthResult {
	r := AuthResult{Method: "iprev", Result: o.Result, Props: []AuthProp{{"policy", "iprev", o.Addr.String()}}}
	if len(o.Names) > 0 {
		r.Comment = o.Names[0]
	}
	return r
}
