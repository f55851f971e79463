package mailauth

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/postamail/posta/internal/resolver"
)

// Resolver is the DNS access mailauth needs. Errors must satisfy errors.Is
// with resolver.ErrNotFound (NXDOMAIN), resolver.ErrNoData (no records of
// the type) or resolver.ErrInvalidName when those apply; any other error is
// treated as a temporary failure.
type Resolver interface {
	// LookupTXT returns the TXT records of name, each record's strings
	// concatenated.
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupMX returns the exchanger host names of name in preference
	// order ("." for a null MX).
	LookupMX(ctx context.Context, name string) ([]string, error)
	// LookupA returns the IPv4 addresses of host.
	LookupA(ctx context.Context, host string) ([]netip.Addr, error)
	// LookupAAAA returns the IPv6 addresses of host.
	LookupAAAA(ctx context.Context, host string) ([]netip.Addr, error)
	// LookupPTR returns the names of addr.
	LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error)
}

// FromResolver adapts posta's caching resolver to Resolver.
func FromResolver(r *resolver.Resolver) Resolver { return dnsAdapter{r} }

type dnsAdapter struct{ r *resolver.Resolver }

func (a dnsAdapter) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, _, err := a.r.LookupTXT(ctx, name)
	return txts, err
}

func (a dnsAdapter) LookupMX(ctx context.Context, name string) ([]string, error) {
	mxs, _, err := a.r.LookupMX(ctx, name)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, len(mxs))
	for i, mx := range mxs {
		hosts[i] = mx.Host
	}
	return hosts, nil
}

func (a dnsAdapter) LookupA(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, _, err := a.r.LookupA(ctx, host)
	return addrs, err
}

func (a dnsAdapter) LookupAAAA(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, _, err := a.r.LookupAAAA(ctx, host)
	return addrs, err
}

func (a dnsAdapter) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	names, _, err := a.r.LookupPTR(ctx, addr)
	return names, err
}

// isVoid reports whether err is a definite "nothing there": NXDOMAIN, no
// records of the type, or a name that cannot exist.
func isVoid(err error) bool {
	return errors.Is(err, resolver.ErrNotFound) || errors.Is(err, resolver.ErrNoData) || errors.Is(err, resolver.ErrInvalidName)
}

// lookupAddrs returns the addresses of host in the family of ip.
func lookupAddrs(ctx context.Context, r Resolver, host string, ip netip.Addr) ([]netip.Addr, error) {
	if ip.Is4() {
		return r.LookupA(ctx, host)
	}
	return r.LookupAAAA(ctx, host)
}

// txtLookup returns a LookupTXT function for go-msgauth, which cannot take a
// context and tells temporary from permanent failures by net.Error.
func txtLookup(ctx context.Context, r Resolver) func(string) ([]string, error) {
	return func(name string) ([]string, error) {
		txts, err := r.LookupTXT(ctx, name)
		if err == nil {
			return txts, nil
		}
		return nil, &net.DNSError{
			Err:         err.Error(),
			Name:        name,
			IsNotFound:  isVoid(err),
			IsTemporary: !isVoid(err),
		}
	}
}
