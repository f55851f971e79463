package directory

import (
	"context"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// UserActor returns the actor of a mailbox user managing its own account (self-service), as
// the account is stored now: a locked or closed account, or a suspended tenant, has none.
func (s *Service) UserActor(ctx context.Context, accountID int64, remote string) (Actor, error) {
	a, err := getAccount(ctx, s.db, strconv.FormatInt(accountID, 10))
	if err != nil || a.Status != StatusActive || a.tenantStatus != "active" {
		return Actor{}, ErrInvalidCredentials
	}
	return Actor{Role: RoleUser, ID: a.ID, AccountID: a.ID, TenantID: a.TenantID, DomainIDs: []int64{a.DomainID}, Name: a.Address, Remote: remote}, nil
}

// AppPassword is a password for one mail client, as listed (never with its secret).
type AppPassword struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	CreatedAt  int64  `json:"created_at"`
	LastUsedAt int64  `json:"last_used_at,omitempty"`
}

// maxAppPasswords bounds app passwords per account: each login may try them all.
const maxAppPasswords = 10

// selfOrAdmin returns the account and the actor when the actor is the account's user or may
// administer it.
func (s *Service) selfOrAdmin(ctx context.Context, account string) (*Account, Actor, error) {
	acc, err := s.GetAccount(ctx, account)
	if err != nil {
		return nil, Actor{}, err
	}
	if a, _ := ActorFrom(ctx); a.Role == RoleUser && a.AccountID == acc.ID {
		return acc, a, nil
	}
	actor, err := authorize(ctx, scope{tenantID: acc.TenantID, domainID: acc.DomainID}, true)
	return acc, actor, err
}

// CreateAppPassword makes a new generated password for a mail client of the account and
// returns it; it is shown once and stored only as an argon2id hash. The user or an
// administrator of the account may create one.
func (s *Service) CreateAppPassword(ctx context.Context, account, name string, generate func() string) (string, *AppPassword, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, invalid("name", "an app password needs a name of at most 100 characters (the client it is for)")
	}
	acc, actor, err := s.selfOrAdmin(ctx, account)
	if err != nil {
		return "", nil, err
	}
	secret := generate()
	hash, _, err := s.hash.Hash(secret)
	if err != nil {
		return "", nil, err
	}
	ap := &AppPassword{Name: name, CreatedAt: s.now()}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM app_passwords WHERE account_id = ?`, acc.ID).Scan(&n); err != nil {
			return err
		}
		if n >= maxAppPasswords {
			return refuse("too-many-app-passwords", "name", "an account may have at most %d app passwords; revoke one first", maxAppPasswords)
		}
		if ap.ID, err = tx.InsertID(ctx, `INSERT INTO app_passwords (account_id, name, password_hash, created_at) VALUES (?, ?, ?, ?)`, acc.ID, name, hash, ap.CreatedAt); err != nil {
			return err
		}
		return audit(ctx, tx, actor, acc.TenantID, "account.app-password.create", acc.Address, nil, map[string]any{"name": name})
	})
	if err != nil {
		return "", nil, err
	}
	return secret, ap, nil
}

// ListAppPasswords lists an account's app passwords.
func (s *Service) ListAppPasswords(ctx context.Context, account string) ([]AppPassword, error) {
	acc, _, err := s.selfOrAdmin(ctx, account)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created_at, COALESCE(last_used_at, 0) FROM app_passwords WHERE account_id = ? ORDER BY id`, acc.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AppPassword{}
	for rows.Next() {
		var p AppPassword
		if err := rows.Scan(&p.ID, &p.Name, &p.CreatedAt, &p.LastUsedAt); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RevokeAppPassword removes one app password of an account.
func (s *Service) RevokeAppPassword(ctx context.Context, account string, id int64) error {
	acc, actor, err := s.selfOrAdmin(ctx, account)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM app_passwords WHERE id = ? AND account_id = ?`, id, acc.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("no app password %d", id)
		}
		return audit(ctx, tx, actor, acc.TenantID, "account.app-password.revoke", acc.Address, map[string]any{"id": id}, nil)
	})
}

// checkAppPassword reports whether password is one of the account's app passwords, and
// notes its use.
func (s *Service) checkAppPassword(ctx context.Context, accountID int64, password string) bool {
	rows, err := s.db.QueryContext(ctx, `SELECT id, password_hash FROM app_passwords WHERE account_id = ?`, accountID)
	if err != nil {
		return false
	}
	type cand struct {
		id   int64
		hash string
	}
	var cs []cand
	for rows.Next() {
		var c cand
		if rows.Scan(&c.id, &c.hash) == nil {
			cs = append(cs, c)
		}
	}
	rows.Close()
	for _, c := range cs {
		if ok, err := s.hash.Verify(c.hash, password); err == nil && ok {
			s.db.ExecContext(ctx, `UPDATE app_passwords SET last_used_at = ? WHERE id = ?`, s.now(), c.id)
			return true
		}
	}
	return false
}

// dayOf is the UTC day number of a Unix-millisecond time.
func dayOf(ms int64) int64 { return ms / 86_400_000 }

// SentToday returns how many messages and recipients an account submitted today (UTC).
func (s *Service) SentToday(ctx context.Context, accountID int64) (messages, recipients int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(messages), 0), COALESCE(SUM(recipients), 0) FROM account_sends WHERE account_id = ? AND day = ?`,
		accountID, dayOf(s.now())).Scan(&messages, &recipients)
	return messages, recipients, err
}

// RecordSend counts a message an account submitted, with its number of recipients.
func (s *Service) RecordSend(ctx context.Context, accountID int64, recipients int) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO account_sends (account_id, day, messages, recipients) VALUES (?, ?, 1, ?)
		ON CONFLICT (account_id, day) DO UPDATE SET messages = account_sends.messages + 1, recipients = account_sends.recipients + excluded.recipients`,
		accountID, dayOf(s.now()), recipients)
	return err
}
