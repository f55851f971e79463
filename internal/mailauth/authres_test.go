package mailauth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestAuthResultsValue(t *testing.T) {
	spf := SPFOutcome{Result: SPFPass, Identity: "mailfrom", Sender: "alice@example.org", Domain: "example.org"}
	helo := SPFOutcome{Result: SPFTempError, Identity: "helo", Sender: "postmaster@mx.example.org", Domain: "mx.example.org", Err: errors.New("spf: TXT mx.example.org: timeout")}
	dkims := []DKIMResult{
		{Result: DKIMPass, Domain: "example.org", Identifier: "@example.org", Selector: "ed", Algorithm: "ed25519-sha256"},
		{Result: DKIMFail, Domain: "example.org", Identifier: "\"odd user\"@example.org", Selector: "rsa", Algorithm: "rsa-sha256", Err: errors.New("dkim: body hash did not verify")},
	}
	dmarc := DMARCOutcome{Result: DMARCPass, From: "example.org", Record: &DMARCRecord{}, Policy: DMARCPolicyReject, PolicyTag: "p", Disposition: DMARCPolicyNone}
	iprev := IPRevOutcome{Result: "pass", Addr: netip.MustParseAddr("2001:db8::1"), Names: []string{"mx.example.org"}}

	results := []AuthResult{spf.AuthResult(), helo.AuthResult()}
	results = append(results, DKIMAuthResults(dkims)...)
	results = append(results, dmarc.AuthResult(), iprev.AuthResult())
	got := AuthResultsField("mx.posta.example", results...)
	want := "Authentication-Results: mx.posta.example;\r\n" +
		"\tspf=pass smtp.mailfrom=alice@example.org;\r\n" +
		"\tspf=temperror reason=\"spf: TXT mx.example.org: timeout\" smtp.helo=mx.example.org;\r\n" +
		"\tdkim=pass header.d=example.org header.i=@example.org header.s=ed header.a=ed25519-sha256;\r\n" +
		"\tdkim=fail reason=\"dkim: body hash did not verify\" header.d=example.org header.i=\"\\\"odd user\\\"@example.org\" header.s=rsa header.a=rsa-sha256;\r\n" +
		"\tdmarc=pass (p=reject dis=NONE) header.from=example.org;\r\n" +
		"\tiprev=pass (mx.example.org) policy.iprev=\"2001:db8::1\"\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := AuthResultsValue("mx.posta.example"); got != "mx.posta.example; none" {
		t.Errorf("no results: %q", got)
	}
	odd := AuthResultsValue("a", AuthResult{Method: "x", Result: "y", Comment: "a(b)c\r\n", Reason: "r\"q\\\x01"})
	if odd != "a;\r\n\tx=y (a\\(b\\)c  ) reason=\"r\\\"q\\\\\"" {
		t.Errorf("escaping: %q", odd)
	}
}

func TestStripAuthResults(t *testing.T) {
	const id = "mx.posta.example"
	tests := []struct {
		name, in, want string
		removed        int
	}{
		{
			name: "ours removed, others kept, body untouched",
			in: "Authentication-Results: mx.posta.example; spf=pass smtp.mailfrom=a@example.org\r\n" +
				"Authentication-Results: other.example; dkim=pass\r\n" +
				"Subject: hi\r\n" +
				"AUTHENTICATION-RESULTS: MX.Posta.Example;\r\n\tdkim=pass\r\n header.d=example.org\r\n" +
				"\r\n" +
				"Authentication-Results: mx.posta.example; in the body\r\n",
			want: "Authentication-Results: other.example; dkim=pass\r\n" +
				"Subject: hi\r\n" +
				"\r\n" +
				"Authentication-Results: mx.posta.example; in the body\r\n",
			removed: 2,
		},
		{
			name:    "comment before the id, version after it",
			in:      "Authentication-Results: (forged) mx.posta.example 1; none\nX: y\n",
			want:    "X: y\n",
			removed: 1,
		},
		{
			name:    "quoted id",
			in:      "Authentication-Results: \"mx.posta.example\"; none\r\n",
			want:    "",
			removed: 1,
		},
		{
			name:    "id as a prefix of another",
			in:      "Authentication-Results: mx.posta.example.evil; none\r\nAuthentication-Results: mx.posta.exampl; none\r\n",
			want:    "Authentication-Results: mx.posta.example.evil; none\r\nAuthentication-Results: mx.posta.exampl; none\r\n",
			removed: 0,
		},
		{
			name:    "space before the colon",
			in:      "Authentication-Results : mx.posta.example; none\r\nSubject: x\r\n",
			want:    "Subject: x\r\n",
			removed: 1,
		},
		{
			name:    "last field without line break",
			in:      "Subject: x\r\nAuthentication-Results: mx.posta.example; none",
			want:    "Subject: x\r\n",
			removed: 1,
		},
	}
	for _, tt := range tests {
		got, n := StripAuthResults([]byte(tt.in), id)
		if string(got) != tt.want || n != tt.removed {
			t.Errorf("%s: got %q (%d), want %q (%d)", tt.name, got, n, tt.want, tt.removed)
		}
	}
}

func TestCheckIPRev(t *testing.T) {
	dns := newFakeDNS(t, `
192.0.2.1 PTR mx.example.org.
mx.example.org A 192.0.2.1
192.0.2.2 PTR liar.example.org.
liar.example.org A 192.0.2.99
192.0.2.4 PTR t.example.org.
t.example.org TEMP
ptr:192.0.2.5 TEMP
`)
	tests := []struct {
		ip, want string
		names    []string
	}{
		{"192.0.2.1", "pass", []string{"mx.example.org"}},
		{"::ffff:192.0.2.1", "pass", []string{"mx.example.org"}},
		{"192.0.2.2", "fail", nil},
		{"192.0.2.3", "permerror", nil},
		{"192.0.2.4", "temperror", nil},
		{"192.0.2.5", "temperror", nil},
	}
	for _, tt := range tests {
		o := CheckIPRev(context.Background(), dns, netip.MustParseAddr(tt.ip))
		if o.Result != tt.want || strings.Join(o.Names, ",") != strings.Join(tt.names, ",") {
			t.Errorf("%s: %+v, want %s %v", tt.ip, o, tt.want, tt.names)
		}
	}
}
