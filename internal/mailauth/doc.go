// Package mailauth authenticates mail: SPF (RFC 7208) evaluation, DKIM
// (RFC 6376, RFC 8463) signing and verification on
// github.com/emersion/go-msgauth, DMARC (RFC 7489) record parsing, discovery
// and policy evaluation with identifier alignment, reverse DNS (iprev), and
// the Authentication-Results header field (RFC 8601): building it, and
// removing forged copies that claim posta's authserv-id.
//
// It owns the rules of these protocols and the parsing of their DNS records.
// Every DNS look-up goes through the Resolver interface declared here
// (production passes FromResolver of an internal/resolver.Resolver, tests a
// fake), always with a context.
//
// It must not speak SMTP, decide what to do with a message (refusing at
// SMTP time, quarantining, per-tenant switches are for smtpserver and
// deliver), store keys or touch the database: DKIM keys are handed in by the
// caller, as are the results of the checks it combines.
package mailauth
