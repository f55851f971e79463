// Package resolver is posta's caching DNS stub resolver, built on
// github.com/miekg/dns.
//
// It owns every DNS look-up posta makes: MX and A/AAAA for outbound delivery,
// TXT for SPF, DKIM, DMARC and MTA-STS discovery, TLSA for DANE, PTR for
// reverse DNS and A/TXT under DNSBL zones. It sends the queries to recursive
// upstream servers (by default those of /etc/resolv.conf), asks for DNSSEC
// (DO bit and AD flag) and reports whether the upstream marked the answer as
// authenticated, follows CNAME chains, falls back to TCP on truncation, keeps
// a bounded cache that respects record TTLs and caches negative answers
// (RFC 2308), and merges concurrent identical queries into one.
//
// Failures are classified for mail delivery, which treats them differently:
// ErrNotFound (NXDOMAIN), ErrNoData (the name exists without records of the
// type) and ErrTemporary (SERVFAIL, timeouts, network errors, cancelled
// contexts). Names that are not valid DNS names give ErrInvalidName.
//
// The package must not hold mail logic: what an MX, SPF record or TLSA record
// means is decided by its callers (queue, mailauth, smtpserver). It trusts the
// AD bit of its configured upstreams, so DANE needs a validating resolver
// reached over a trusted path (loopback, in practice).
package resolver
