package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/dkim"
)

// Record is a DNS record a hosted domain should publish.
type Record struct {
	// Purpose says what the record is for: "mx", "spf", "dmarc", "autoconfig", "autodiscover",
	// "imaps", "submissions", "submission", "pop3s", "dkim".
	Purpose string `json:"purpose"`
	Type    string `json:"type"` // MX, TXT, CNAME, SRV
	// Name is the fully qualified owner name, without the trailing dot.
	Name string `json:"name"`
	// Value is the record's data as a zone file writes it after the type (TXT data unquoted).
	Value string `json:"value"`
	// Target, Priority, Weight and Port are the parts of MX, CNAME and SRV records.
	Target   string `json:"target,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Weight   int    `json:"weight,omitempty"`
	Port     int    `json:"port,omitempty"`
	// Pending marks a record that cannot be published yet (DKIM comes with outbound signing).
	Pending bool `json:"pending,omitempty"`
}

// ZoneLine is the record as one line of a zone file.
func (r Record) ZoneLine() string {
	if r.Pending {
		return ""
	}
	v := r.Value
	if r.Type == "TXT" {
		v = `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
	}
	return fmt.Sprintf("%s. 3600 IN %s %s", r.Name, r.Type, v)
}

// DNSRecords returns the records a hosted domain should publish so that mail for it reaches
// hostname, the mail server: those of directory.DNSRecords (MX, SPF, DMARC, the autoconfig and
// autodiscover names, the RFC 6186 and RFC 8314 SRV records), split into their parts for the
// live check, and the domain's DKIM keys (active and pending; a placeholder when it has none
// yet).
func DNSRecords(domain, hostname string, dkimKeys []dkim.Record) []Record {
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	host := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(hostname)), ".")
	var out []Record
	for _, d := range directory.DNSRecords(domain, host) {
		r := Record{Type: d.Type, Name: d.Name, Value: d.Value}
		f := strings.Fields(d.Value)
		switch {
		case d.Type == "MX" && len(f) == 2:
			r.Purpose, r.Target = "mx", strings.TrimSuffix(f[1], ".")
			r.Priority, _ = strconv.Atoi(f[0])
		case d.Type == "TXT" && strings.HasPrefix(d.Value, "v=spf1"):
			r.Purpose = "spf"
		case d.Type == "TXT" && strings.HasPrefix(d.Name, "_dmarc."):
			r.Purpose = "dmarc"
		case d.Type == "CNAME":
			r.Purpose, _, _ = strings.Cut(d.Name, ".")
			r.Target = strings.TrimSuffix(d.Value, ".")
		case d.Type == "SRV" && len(f) == 4:
			service, _, _ := strings.Cut(strings.TrimPrefix(d.Name, "_"), ".")
			r.Purpose, r.Target = service, strings.TrimSuffix(f[3], ".")
			r.Priority, _ = strconv.Atoi(f[0])
			r.Weight, _ = strconv.Atoi(f[1])
			r.Port, _ = strconv.Atoi(f[2])
		default:
			r.Purpose = strings.ToLower(d.Type)
		}
		out = append(out, r)
	}
	n := len(out)
	for _, k := range dkimKeys {
		if k.State != dkim.Retired {
			out = append(out, Record{Purpose: "dkim", Type: "TXT", Name: k.Name, Value: k.Value})
		}
	}
	if len(out) == n {
		out = append(out, Record{Purpose: "dkim", Type: "TXT", Name: "default._domainkey." + domain, Pending: true})
	}
	return out
}

// Resolver is what the live check asks (net.Resolver).
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupCNAME(ctx context.Context, host string) (string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

var defaultResolver Resolver = net.DefaultResolver

// Live states of a record.
const (
	Live      = "live"      // published as expected
	NotYet    = "missing"   // the name answers without it
	Different = "different" // a record of the kind is published with another value
	Unknown   = "unknown"   // the look-up failed (time-out, no resolver)
	Pending   = "pending"   // nothing to publish yet
)

// CheckRecords looks each record up with r, all at once, within timeout, and returns the state
// of each (same order).
func CheckRecords(ctx context.Context, r Resolver, recs []Record, timeout time.Duration) []string {
	out := make([]string, len(recs))
	if timeout < 0 {
		for i, rec := range recs {
			out[i] = Unknown
			if rec.Pending {
				out[i] = Pending
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, rec := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = checkRecord(ctx, r, rec)
		}()
	}
	wg.Wait()
	return out
}

func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

// lookupState maps a look-up error: a name that does not exist (or has no such record) is
// "not yet", anything else "unknown".
func lookupState(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return NotYet
	}
	return Unknown
}

func checkRecord(ctx context.Context, r Resolver, rec Record) string {
	if rec.Pending {
		return Pending
	}
	switch rec.Type {
	case "MX":
		mxs, err := r.LookupMX(ctx, rec.Name)
		if err != nil {
			return lookupState(err)
		}
		for _, mx := range mxs {
			if sameHost(mx.Host, rec.Target) {
				return Live
			}
		}
		if len(mxs) > 0 {
			return Different
		}
		return NotYet
	case "TXT":
		txts, err := r.LookupTXT(ctx, rec.Name)
		if err != nil {
			return lookupState(err)
		}
		tag, _, _ := strings.Cut(rec.Value, " ")
		tag = strings.TrimSuffix(tag, ";")
		state := NotYet
		for _, t := range txts {
			if strings.Join(strings.Fields(t), " ") == rec.Value {
				return Live
			}
			if strings.HasPrefix(strings.ToLower(t), strings.ToLower(tag)) {
				state = Different
			}
		}
		return state
	case "CNAME":
		cname, err := r.LookupCNAME(ctx, rec.Name)
		if err != nil {
			return lookupState(err)
		}
		if sameHost(cname, rec.Target) {
			return Live
		}
		if sameHost(cname, rec.Name) {
			return NotYet // the name has addresses of its own, no alias
		}
		return Different
	case "SRV":
		service, rest, _ := strings.Cut(strings.TrimPrefix(rec.Name, "_"), ".")
		proto, name, _ := strings.Cut(strings.TrimPrefix(rest, "_"), ".")
		_, srvs, err := r.LookupSRV(ctx, service, proto, name)
		if err != nil {
			return lookupState(err)
		}
		for _, s := range srvs {
			if sameHost(s.Target, rec.Target) && int(s.Port) == rec.Port {
				return Live
			}
		}
		if len(srvs) > 0 {
			return Different
		}
		return NotYet
	}
	return Unknown
}
