package mailauth

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/resolver"
)

// fakeDNS is an in-memory Resolver. Its zone is written one record a line:
//
//	name TYPE value
//
// with TYPE one of TXT (value to the end of the line), A, AAAA, MX (host),
// PTR (name is the address) and TEMP (every look-up of name fails
// temporarily). A name present with other types answers NODATA; an absent
// name NXDOMAIN.
type fakeDNS struct {
	txt   map[string][]string
	a     map[string][]netip.Addr
	aaaa  map[string][]netip.Addr
	mx    map[string][]string
	ptr   map[netip.Addr][]string
	names map[string]bool
	temp  map[string]bool
}

func newFakeDNS(t testing.TB, zone string) *fakeDNS {
	t.Helper()
	f := &fakeDNS{
		txt:   map[string][]string{},
		a:     map[string][]netip.Addr{},
		aaaa:  map[string][]netip.Addr{},
		mx:    map[string][]string{},
		ptr:   map[netip.Addr][]string{},
		names: map[string]bool{},
		temp:  map[string]bool{},
	}
	for _, line := range strings.Split(zone, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, " ", 3)
		if len(parts) < 2 {
			t.Fatalf("bad zone line %q", line)
		}
		name, typ, value := strings.ToLower(strings.TrimSuffix(parts[0], ".")), parts[1], ""
		if len(parts) == 3 {
			value = parts[2]
		}
		f.names[name] = true
		switch typ {
		case "TXT":
			f.txt[name] = append(f.txt[name], value)
		case "A":
			f.a[name] = append(f.a[name], netip.MustParseAddr(value))
		case "AAAA":
			f.aaaa[name] = append(f.aaaa[name], netip.MustParseAddr(value))
		case "MX":
			f.mx[name] = append(f.mx[name], strings.TrimSuffix(value, "."))
		case "PTR":
			delete(f.names, name)
			ip := netip.MustParseAddr(parts[0])
			f.ptr[ip] = append(f.ptr[ip], value)
		case "TEMP":
			f.temp[name] = true
		case "NAME":
		default:
			t.Fatalf("bad type in %q", line)
		}
	}
	return f
}

func lookup[T any](f *fakeDNS, ctx context.Context, typ, name string, m map[string][]T) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %w", typ, name, resolver.ErrTemporary, err)
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, ".") || strings.ContainsAny(name, " \\") {
		return nil, fmt.Errorf("%s %q: %w", typ, name, resolver.ErrInvalidName)
	}
	if f.temp[name] {
		return nil, fmt.Errorf("%s %s: %w", typ, name, resolver.ErrTemporary)
	}
	if v := m[name]; len(v) > 0 {
		return append([]T(nil), v...), nil
	}
	if f.names[name] {
		return nil, fmt.Errorf("%s %s: %w", typ, name, resolver.ErrNoData)
	}
	return nil, fmt.Errorf("%s %s: %w", typ, name, resolver.ErrNotFound)
}

func (f *fakeDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookup(f, ctx, "TXT", name, f.txt)
}

func (f *fakeDNS) LookupMX(ctx context.Context, name string) ([]string, error) {
	return lookup(f, ctx, "MX", name, f.mx)
}

func (f *fakeDNS) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookup(f, ctx, "A", name, f.a)
}

func (f *fakeDNS) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookup(f, ctx, "AAAA", name, f.aaaa)
}

func (f *fakeDNS) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	if f.temp["ptr:"+addr.String()] {
		return nil, fmt.Errorf("PTR %s: %w", addr, resolver.ErrTemporary)
	}
	if v := f.ptr[addr.Unmap()]; len(v) > 0 {
		return append([]string(nil), v...), nil
	}
	return nil, fmt.Errorf("PTR %s: %w", addr, resolver.ErrNotFound)
}

// exampleDNS is a Resolver serving TXT records only, for examples.
type exampleDNS map[string][]string

func (d exampleDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if v, ok := d[strings.TrimSuffix(name, ".")]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("TXT %s: %w", name, resolver.ErrNotFound)
}

func (exampleDNS) LookupMX(context.Context, string) ([]string, error) {
	return nil, resolver.ErrNotFound
}

func (exampleDNS) LookupA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}

func (exampleDNS) LookupAAAA(context.Context, string) ([]netip.Addr, error) {
	return nil, resolver.ErrNotFound
}

func (exampleDNS) LookupPTR(context.Context, netip.Addr) ([]string, error) {
	return nil, resolver.ErrNotFound
}

func mustBase64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
