package mailauth

import (
	"bytes"
	"context"
	"net/netip"
	"strings"

	"github.com/postamail/posta/internal/message"
)

// Inbound checks a message arriving on the MX: SPF for the sender, every DKIM signature, DMARC
// for the From domain, and the client's reverse DNS; it says what to do and gives the
// Authentication-Results field to prepend.
type Inbound struct {
	Resolver   Resolver
	AuthservID string // this server's name in Authentication-Results
}

// Verdict is the outcome of the inbound checks.
type Verdict struct {
	SPF   SPFOutcome
	DKIM  []DKIMResult
	DMARC DMARCOutcome
	IPRev IPRevOutcome
	// Field is the Authentication-Results header field, CRLF-terminated.
	Field string
	// Message is the message with any Authentication-Results carrying our id removed (a
	// sender's forgery of our verdict).
	Message []byte
}

// Reject reports whether the From domain's DMARC policy asks to reject the message.
func (v *Verdict) Reject() bool { return v.DMARC.Disposition == "reject" }

// Quarantine reports whether the policy asks to treat it as suspicious (the Junk folder).
func (v *Verdict) Quarantine() bool { return v.DMARC.Disposition == "quarantine" }

// Check runs the checks on a message from ip, which said helo and gave mailFrom.
func (in *Inbound) Check(ctx context.Context, ip netip.Addr, helo, mailFrom string, msg []byte) *Verdict {
	v := &Verdict{}
	v.Message, _ = StripAuthResults(msg, in.AuthservID)
	spf := &SPFChecker{Resolver: in.Resolver, Receiver: in.AuthservID}
	v.SPF = spf.CheckSender(ctx, ip, helo, mailFrom)
	v.DKIM, _ = VerifyDKIM(ctx, in.Resolver, bytes.NewReader(v.Message))
	dm := &DMARCChecker{Resolver: in.Resolver}
	v.DMARC = dm.Check(ctx, DMARCInput{From: fromDomain(v.Message), SPF: v.SPF.Result, SPFDomain: v.SPF.Domain, DKIM: v.DKIM})
	v.IPRev = CheckIPRev(ctx, in.Resolver, ip)
	results := []AuthResult{v.SPF.AuthResult()}
	results = append(results, DKIMAuthResults(v.DKIM)...)
	results = append(results, v.DMARC.AuthResult(), v.IPRev.AuthResult())
	v.Field = AuthResultsField(in.AuthservID, results...)
	return v
}

// fromDomain is the domain of the message's From address ("" when there is none, or several
// domains: DMARC then has nothing to align with).
func fromDomain(msg []byte) string {
	h, _ := message.ParseHeader(msg)
	var domain string
	for _, v := range h.Values("From") {
		for _, a := range message.ParseAddressList(v) {
			d := strings.ToLower(a.Host)
			if domain != "" && d != domain {
				return ""
			}
			domain = d
		}
	}
	return domain
}
