package mailauth

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDMARC(t *testing.T) {
	def := func(mod func(*DMARCRecord)) *DMARCRecord {
		r := &DMARCRecord{
			Policy: DMARCPolicyNone, DKIMAlignment: AlignRelaxed, SPFAlignment: AlignRelaxed,
			Percent: 100, FailureOptions: []string{"0"}, ReportFormats: []string{"afrf"}, ReportInterval: 86400,
		}
		if mod != nil {
			mod(r)
		}
		return r
	}
	tests := []struct {
		in   string
		want *DMARCRecord
	}{
		{"v=DMARC1; p=none", def(nil)},
		{"v=DMARC1;p=none;", def(nil)},
		{" v = DMARC1 ;\tp = none ; ", def(nil)},
		{"v=DMARC1; p=REJECT", def(func(r *DMARCRecord) { r.Policy = DMARCPolicyReject })},
		{
			"v=DMARC1; p=quarantine; sp=reject; np=reject; adkim=s; aspf=s; pct=25; " +
				"rua=mailto:agg@example.org,mailto:big@example.net!10m; ruf=mailto:f@example.org!512; fo=1:d:s; rf=afrf; ri=3600; x_future=yes",
			def(func(r *DMARCRecord) {
				r.Policy, r.SubdomainPolicy, r.NonexistentPolicy = DMARCPolicyQuarantine, DMARCPolicyReject, DMARCPolicyReject
				r.DKIMAlignment, r.SPFAlignment, r.Percent = AlignStrict, AlignStrict, 25
				r.AggregateReports = []ReportURI{{"mailto:agg@example.org", 0}, {"mailto:big@example.net", 10 << 20}}
				r.FailureReports = []ReportURI{{"mailto:f@example.org", 512}}
				r.FailureOptions, r.ReportInterval = []string{"1", "d", "s"}, 3600
			}),
		},
		{"v=DMARC1; rua=mailto:a@example.org", def(func(r *DMARCRecord) {
			r.AggregateReports = []ReportURI{{"mailto:a@example.org", 0}}
			r.PolicyDefaulted = true
		})},
		{"v=DMARC1; p=bogus; rua=mailto:a@example.org", def(func(r *DMARCRecord) {
			r.AggregateReports = []ReportURI{{"mailto:a@example.org", 0}}
			r.PolicyDefaulted = true
		})},
		{"v=DMARC1; p=reject; sp=bogus; rua=mailto:a@example.org", def(func(r *DMARCRecord) {
			r.AggregateReports = []ReportURI{{"mailto:a@example.org", 0}}
			r.PolicyDefaulted = true
		})},
	}
	for _, tt := range tests {
		got, err := ParseDMARC(tt.in)
		if err != nil {
			t.Errorf("ParseDMARC(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseDMARC(%q) =\n%+v, want\n%+v", tt.in, got, tt.want)
		}
		again, err := ParseDMARC(got.String())
		if err != nil || !reflect.DeepEqual(again, got) && !got.PolicyDefaulted {
			t.Errorf("round trip of %q via %q: %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestParseDMARCErrors(t *testing.T) {
	tests := []struct {
		in     string
		tag    string
		offset int
		msg    string
	}{
		{"", "", 0, "does not start"},
		{"p=none; v=DMARC1", "p", 0, "does not start"},
		{"v=DMARC2; p=none", "v", 0, "does not start"},
		{"v=dmarc1; p=none", "v", 0, "does not start"},
		{"v=DMARC1", "p", 8, "missing required tag"},
		{"v=DMARC1; p=nothing", "p", 10, "invalid policy"},
		{"v=DMARC1; p=none; sp=bogus", "sp", 18, "invalid policy"},
		{"v=DMARC1; p=none; adkim=x", "adkim", 18, "invalid alignment"},
		{"v=DMARC1; p=none; aspf=relaxed", "aspf", 18, "invalid alignment"},
		{"v=DMARC1; p=none; pct=101", "pct", 18, "invalid percentage"},
		{"v=DMARC1; p=none; pct=-1", "pct", 18, "invalid percentage"},
		{"v=DMARC1; p=none; pct=", "pct", 18, "invalid percentage"},
		{"v=DMARC1; p=none; rua=agg@example.org", "rua", 18, "invalid URI"},
		{"v=DMARC1; p=none; rua=mailto:nobody", "rua", 18, "invalid mailto"},
		{"v=DMARC1; p=none; rua=mailto:a@example.org!10x", "rua", 18, "invalid size"},
		{"v=DMARC1; p=none; fo=2", "fo", 18, "invalid value"},
		{"v=DMARC1; p=none; ri=day", "ri", 18, "invalid interval"},
		{"v=DMARC1; p=none; p=reject", "p", 18, "duplicate tag"},
		{"v=DMARC1; p=none; 9x=1", "", 18, "invalid tag name"},
		{"v=DMARC1; p=none; novalue", "novalue", 18, "missing"},
		{"v=DMARC1; p=none; np=maybe", "np", 18, "invalid policy"},
		{"v=DMARC1; p=none; x=caf\xc3\xa9", "x", 18, "invalid character"},
	}
	for _, tt := range tests {
		_, err := ParseDMARC(tt.in)
		var se *DMARCSyntaxError
		if !errors.As(err, &se) {
			t.Errorf("ParseDMARC(%q) err = %v, want a syntax error", tt.in, err)
			continue
		}
		if se.Tag != tt.tag || se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("ParseDMARC(%q) = %#v, want tag %q offset %d msg %q", tt.in, se, tt.tag, tt.offset, tt.msg)
		}
	}
}

func TestOrganizationalDomain(t *testing.T) {
	tests := map[string]string{
		"example.com":             "example.com",
		"mail.example.com":        "example.com",
		"a.b.c.example.co.uk":     "example.co.uk",
		"Example.COM.":            "example.com",
		"com":                     "com",
		"co.uk":                   "co.uk",
		"foo.bar.unknowntld":      "bar.unknowntld",
		"user.github.io":          "user.github.io",
		"deep.user.github.io":     "user.github.io",
		"xn--bcher-kva.example":   "xn--bcher-kva.example",
		"a.xn--bcher-kva.example": "xn--bcher-kva.example",
	}
	for in, want := range tests {
		if got := OrganizationalDomain(in); got != want {
			t.Errorf("OrganizationalDomain(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAlignmentMatrix checks identifier alignment for every combination of
// mode and domain relation.
func TestAlignmentMatrix(t *testing.T) {
	tests := []struct {
		from, other     string
		relaxed, strict bool
	}{
		{"example.com", "example.com", true, true},
		{"example.com", "EXAMPLE.com.", true, true},
		{"example.com", "mail.example.com", true, false},
		{"news.example.com", "example.com", true, false},
		{"news.example.com", "mail.example.com", true, false},
		{"example.com", "example.net", false, false},
		{"example.com", "example.com.evil.net", false, false},
		{"example.co.uk", "other.co.uk", false, false},
		{"a.example.co.uk", "b.example.co.uk", true, false},
		{"alice.github.io", "bob.github.io", false, false},
		{"example.com", "", false, false},
	}
	for _, tt := range tests {
		if got := Aligned(tt.other, tt.from, AlignRelaxed); got != tt.relaxed {
			t.Errorf("relaxed %s vs %s = %v", tt.other, tt.from, got)
		}
		if got := Aligned(tt.other, tt.from, AlignStrict); got != tt.strict {
			t.Errorf("strict %s vs %s = %v", tt.other, tt.from, got)
		}
	}
}

func TestDMARCCheck(t *testing.T) {
	const zone = `
_dmarc.example.com TXT v=DMARC1; p=reject; sp=quarantine; adkim=s; rua=mailto:d@example.com
_dmarc.example.com TXT not a dmarc record
_dmarc.relaxed.example TXT v=DMARC1; p=quarantine
_dmarc.own.example.com TXT v=DMARC1; p=none
_dmarc.sampled.example TXT v=DMARC1; p=reject; pct=50
_dmarc.np.example TXT v=DMARC1; p=quarantine; np=reject
_dmarc.two.example TXT v=DMARC1; p=reject
_dmarc.two.example TXT v=DMARC1; p=none
_dmarc.broken.example TXT v=DMARC1; p=reject; pct=500
_dmarc.temp.example TEMP
`
	pass := func(d string) []DKIMResult { return []DKIMResult{{Result: DKIMPass, Domain: d}} }
	tests := []struct {
		name   string
		in     DMARCInput
		sample int
		want   DMARCOutcome // compared on the fields set below
	}{
		{
			name: "SPF aligned relaxed",
			in:   DMARCInput{From: "example.com", SPF: SPFPass, SPFDomain: "bounces.example.com"},
			want: DMARCOutcome{Result: DMARCPass, Disposition: DMARCPolicyNone, Policy: DMARCPolicyReject, PolicyTag: "p", SPFAligned: true},
		},
		{
			name: "DKIM strict not aligned, SPF unaligned",
			in:   DMARCInput{From: "example.com", SPF: SPFPass, SPFDomain: "example.net", DKIM: pass("mail.example.com")},
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyReject, Policy: DMARCPolicyReject, PolicyTag: "p"},
		},
		{
			name: "DKIM strict aligned",
			in:   DMARCInput{From: "example.com", SPF: SPFFail, SPFDomain: "example.com", DKIM: pass("example.com")},
			want: DMARCOutcome{Result: DMARCPass, Disposition: DMARCPolicyNone, Policy: DMARCPolicyReject, PolicyTag: "p", DKIMAligned: true, DKIMDomain: "example.com"},
		},
		{
			name: "failed DKIM does not align",
			in:   DMARCInput{From: "example.com", DKIM: []DKIMResult{{Result: DKIMFail, Domain: "example.com"}}},
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyReject, Policy: DMARCPolicyReject, PolicyTag: "p"},
		},
		{
			name: "SPF softfail does not align",
			in:   DMARCInput{From: "example.com", SPF: SPFSoftFail, SPFDomain: "example.com"},
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyReject, Policy: DMARCPolicyReject, PolicyTag: "p"},
		},
		{
			name: "subdomain takes sp from the organizational domain",
			in:   DMARCInput{From: "news.example.com", SPF: SPFPass, SPFDomain: "example.net"},
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyQuarantine, Policy: DMARCPolicyQuarantine, PolicyTag: "sp"},
		},
		{
			name: "subdomain with its own record takes its p",
			in:   DMARCInput{From: "own.example.com"},
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyNone, Policy: DMARCPolicyNone, PolicyTag: "p"},
		},
		{
			name: "subdomain without sp takes p",
			in:   DMARCInput{From: "a.b.relaxed.example", DKIM: pass("relaxed.example")},
			want: DMARCOutcome{Result: DMARCPass, Disposition: DMARCPolicyNone, Policy: DMARCPolicyQuarantine, PolicyTag: "p", DKIMAligned: true, DKIMDomain: "relaxed.example"},
		},
		{
			name: "relaxed DKIM alignment across subdomains",
			in:   DMARCInput{From: "relaxed.example", DKIM: append([]DKIMResult{{Result: DKIMFail, Domain: "relaxed.example"}}, pass("s.relaxed.example")...)},
			want: DMARCOutcome{Result: DMARCPass, Disposition: DMARCPolicyNone, Policy: DMARCPolicyQuarantine, PolicyTag: "p", DKIMAligned: true, DKIMDomain: "s.relaxed.example"},
		},
		{
			name: "pct sampled in",
			in:   DMARCInput{From: "sampled.example"}, sample: 49,
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyReject, Policy: DMARCPolicyReject, PolicyTag: "p", Sampled: true},
		},
		{
			name: "pct sampled out lowers reject to quarantine",
			in:   DMARCInput{From: "sampled.example"}, sample: 50,
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyQuarantine, Policy: DMARCPolicyReject, PolicyTag: "p"},
		},
		{
			name: "np for a nonexistent domain",
			in:   DMARCInput{From: "gone.np.example", FromNonexistent: true},
			want: DMARCOutcome{Result: DMARCFail, Disposition: DMARCPolicyReject, Policy: DMARCPolicyReject, PolicyTag: "np"},
		},
		{
			name: "no record",
			in:   DMARCInput{From: "nothing.example"},
			want: DMARCOutcome{Result: DMARCNone, Disposition: DMARCPolicyNone},
		},
		{
			name: "two records mean none",
			in:   DMARCInput{From: "two.example"},
			want: DMARCOutcome{Result: DMARCNone, Disposition: DMARCPolicyNone},
		},
		{
			name: "broken record",
			in:   DMARCInput{From: "broken.example"},
			want: DMARCOutcome{Result: DMARCPermError, Disposition: DMARCPolicyNone},
		},
		{
			name: "DNS failure",
			in:   DMARCInput{From: "temp.example"},
			want: DMARCOutcome{Result: DMARCTempError, Disposition: DMARCPolicyNone},
		},
	}
	dns := newFakeDNS(t, zone)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &DMARCChecker{Resolver: dns, Sample: func() int { return tt.sample }}
			got := c.Check(context.Background(), tt.in)
			if got.Result != tt.want.Result || got.Disposition != tt.want.Disposition ||
				got.Policy != tt.want.Policy || got.PolicyTag != tt.want.PolicyTag ||
				got.SPFAligned != tt.want.SPFAligned || got.DKIMAligned != tt.want.DKIMAligned ||
				got.DKIMDomain != tt.want.DKIMDomain {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if tt.want.Result == DMARCFail && tt.sample == 0 && !got.Sampled {
				t.Error("not sampled at 100%")
			}
			if tt.want.Result == DMARCFail && tt.sample == 50 && got.Sampled {
				t.Error("sampled")
			}
			if (got.Err != nil) != (tt.want.Result == DMARCNone || tt.want.Result == DMARCTempError || tt.want.Result == DMARCPermError) {
				t.Errorf("err = %v", got.Err)
			}
		})
	}
}
