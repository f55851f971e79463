package directory

import (
	"context"
	"fmt"
)

// DomainStorage is the mail storage of one domain's accounts.
type DomainStorage struct {
	Domain     string `json:"domain"`
	Accounts   int    `json:"accounts"`
	UsedBytes  int64  `json:"used_bytes"`
	QuotaBytes int64  `json:"quota_bytes"` // the sum of the accounts' quotas
}

// StorageReport is a tenant's storage: per domain and in all.
type StorageReport struct {
	Tenant     string          `json:"tenant"`
	Domains    []DomainStorage `json:"domains"`
	UsedBytes  int64           `json:"used_bytes"`
	QuotaBytes int64           `json:"quota_bytes"`
}

// Storage reports the storage used by a tenant's accounts, per domain. Domain administrators
// see their domains only.
func (s *Service) Storage(ctx context.Context, tenant string) (*StorageReport, error) {
	t, err := s.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	actor, _ := ActorFrom(ctx)
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, d.name, COUNT(a.id), COALESCE(SUM(a.used_bytes), 0), COALESCE(SUM(c.quota_bytes), 0)
		FROM domains d LEFT JOIN accounts a ON a.domain_id = d.id LEFT JOIN cos c ON c.id = a.cos_id
		WHERE d.tenant_id = ? GROUP BY d.id, d.name ORDER BY d.name`, t.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r := &StorageReport{Tenant: t.Name, Domains: []DomainStorage{}}
	for rows.Next() {
		var id int64
		var d DomainStorage
		if err := rows.Scan(&id, &d.Domain, &d.Accounts, &d.UsedBytes, &d.QuotaBytes); err != nil {
			return nil, err
		}
		if actor.Role == RoleDomainAdmin && !containsID(actor.DomainIDs, id) {
			continue
		}
		r.Domains = append(r.Domains, d)
		r.UsedBytes += d.UsedBytes
		r.QuotaBytes += d.QuotaBytes
	}
	return r, rows.Err()
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// DNSRecord is one record a domain should publish for mail to work with this server.
type DNSRecord struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Value   string `json:"value"`
	Purpose string `json:"purpose"`
}

// DNSRecords lists the records to publish for a hosted domain served by hostname: where mail
// goes (MX), who may send it (SPF), what receivers do with failures (DMARC), and where clients
// find the servers (SRV, autoconfig). DKIM keys come with outbound signing.
func DNSRecords(domain, hostname string) []DNSRecord {
	h := hostname + "."
	return []DNSRecord{
		{domain, "MX", "10 " + h, "incoming mail"},
		{domain, "TXT", "v=spf1 mx -all", "SPF: only this domain's MX hosts send its mail"},
		{"_dmarc." + domain, "TXT", fmt.Sprintf("v=DMARC1; p=quarantine; rua=mailto:postmaster@%s", domain), "DMARC policy and reports"},
		{"autoconfig." + domain, "CNAME", h, "client set-up (Thunderbird and others)"},
		{"autodiscover." + domain, "CNAME", h, "client set-up (Outlook)"},
		{"_imaps._tcp." + domain, "SRV", "0 1 993 " + h, "IMAP over TLS (RFC 6186)"},
		{"_submissions._tcp." + domain, "SRV", "0 1 465 " + h, "sending over TLS (RFC 8314)"},
		{"_submission._tcp." + domain, "SRV", "0 1 587 " + h, "sending with STARTTLS"},
		{"_pop3s._tcp." + domain, "SRV", "0 1 995 " + h, "POP3 over TLS"},
	}
}
