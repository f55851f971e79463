package mtasts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/postamail/posta/internal/db"
)

// DBStore keeps policies in the mta_sts_policies table, shared by every node.
type DBStore struct{ DB *db.DB }

// Load returns the policy kept for domain, or nil.
func (s DBStore) Load(ctx context.Context, domain string) (*Stored, error) {
	var id, text string
	var fetched, expires int64
	err := s.DB.QueryRowContext(ctx, `SELECT policy_id, policy, fetched_at, expires_at FROM mta_sts_policies WHERE domain = ?`, domain).
		Scan(&id, &text, &fetched, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mtasts: load %s: %w", domain, err)
	}
	p, err := Parse([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("mtasts: stored policy of %s: %w", domain, err)
	}
	return &Stored{ID: id, Policy: p, FetchedAt: time.UnixMilli(fetched), Expires: time.UnixMilli(expires)}, nil
}

// Save keeps st as the policy of domain, replacing any other.
func (s DBStore) Save(ctx context.Context, domain string, st *Stored) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO mta_sts_policies (domain, policy_id, policy, fetched_at, expires_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, policy = excluded.policy, fetched_at = excluded.fetched_at,
		expires_at = excluded.expires_at`,
		domain, st.ID, st.Policy.String(), st.FetchedAt.UnixMilli(), st.Expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("mtasts: save %s: %w", domain, err)
	}
	return nil
}
