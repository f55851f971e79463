package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// Account statuses (PRODUCT A3).
const (
	StatusActive = "active"
	StatusLocked = "locked"
	StatusClosed = "closed"
)

// Account is a mailbox owner.
type Account struct {
	ID           int64    `json:"id"`
	TenantID     int64    `json:"tenant_id"`
	DomainID     int64    `json:"domain_id"`
	Address      string   `json:"address"`
	DisplayName  string   `json:"display_name"`
	COSID        int64    `json:"cos_id"`
	COS          string   `json:"cos"`
	Features     []string `json:"features"`
	FeatureMask  int      `json:"-"`
	Protocols    int      `json:"-"`
	Status       string   `json:"status"`
	QuotaBytes   int64    `json:"quota_bytes"`
	UsedBytes    int64    `json:"used_bytes"`
	UsedMessages int64    `json:"used_messages"`
	// MaxMessages is the COS's cap of messages kept (0: none).
	MaxMessages int64 `json:"max_messages,omitempty"`
	// SendPerDay and RecipientsPerMessage are the COS's sending limits (0: none).
	SendPerDay           int `json:"send_per_day,omitempty"`
	RecipientsPerMessage int `json:"recipients_per_message,omitempty"`
	// MaxMessageSize is the largest message the account may receive or send, the smaller of
	// its COS's and its tenant's limits; 0 when neither sets one (the node's limit applies).
	MaxMessageSize int64    `json:"max_message_size,omitempty"`
	ForwardTo      []string `json:"forward_to,omitempty"`
	ForwardKeep    bool     `json:"forward_keep"`
	AutoReply      bool     `json:"auto_reply"`
	AutoSubject    string   `json:"auto_reply_subject,omitempty"`
	AutoBody       string   `json:"auto_reply_body,omitempty"`
	CreatedAt      int64    `json:"created_at"`
	LastLoginAt    int64    `json:"last_login_at,omitempty"`

	passwordHash string
	tenantStatus string
}

const accountCols = `a.id, a.tenant_id, a.domain_id, a.address, a.display_name, a.cos_id, c.name, c.features, c.protocols, a.status, c.quota_bytes,
	a.used_bytes, a.used_messages, a.forward_to, a.forward_keep, a.autoreply, a.autoreply_subject, a.autoreply_body, a.created_at, COALESCE(a.last_login_at, 0),
	a.password_hash, t.status, COALESCE(c.max_message_size, 0), COALESCE(t.max_message_size, 0), COALESCE(c.send_per_day, 0), COALESCE(c.recipients_per_message, 0), c.max_messages`
const accountFrom = ` FROM accounts a JOIN cos c ON c.id = a.cos_id JOIN tenants t ON t.id = a.tenant_id`

func scanAccount(sc interface{ Scan(...any) error }) (*Account, error) {
	var a Account
	var fwd string
	var cosMax, tenantMax int64
	err := sc.Scan(&a.ID, &a.TenantID, &a.DomainID, &a.Address, &a.DisplayName, &a.COSID, &a.COS, &a.FeatureMask, &a.Protocols, &a.Status, &a.QuotaBytes,
		&a.UsedBytes, &a.UsedMessages, &fwd, &a.ForwardKeep, &a.AutoReply, &a.AutoSubject, &a.AutoBody, &a.CreatedAt, &a.LastLoginAt,
		&a.passwordHash, &a.tenantStatus, &cosMax, &tenantMax, &a.SendPerDay, &a.RecipientsPerMessage, &a.MaxMessages)
	a.MaxMessageSize = cosMax
	if tenantMax > 0 && (a.MaxMessageSize == 0 || tenantMax < a.MaxMessageSize) {
		a.MaxMessageSize = tenantMax
	}
	if fwd != "" {
		a.ForwardTo = strings.Split(fwd, ",")
	}
	a.Features = FeatureNames(a.FeatureMask)
	return &a, err
}

// Has reports whether the account's class of service includes a feature.
func (a *Account) Has(feature int) bool { return a.FeatureMask&feature != 0 }

// Allows reports whether the account's class of service allows a protocol (ProtoIMAP, ...).
func (a *Account) Allows(proto int) bool { return a.Protocols&proto != 0 }

// AccountSpec describes a new account.
type AccountSpec struct {
	Address     string
	Password    string
	DisplayName string
	COS         string // id or name
	Status      string // default active
}

// CreateAccount creates an account and, through the OnAccountCreated hook, its mailboxes, in
// one transaction. It enforces address syntax and uniqueness, domain ownership, the password
// policy of the class of service and the tenant's contract cap.
func (s *Service) CreateAccount(ctx context.Context, spec AccountSpec) (*Account, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	local, domain, err := NormalizeAddress(spec.Address)
	if err != nil {
		return nil, err
	}
	address := local + "@" + domain
	d, err := getDomain(ctx, s.db, domain)
	if err != nil {
		return nil, refuse("domain-not-owned", "address", "domain %q is not hosted here", domain)
	}
	a, err := authorize(ctx, scope{tenantID: d.TenantID, domainID: d.ID}, true)
	if err != nil {
		return nil, hide(err, refuse("domain-not-owned", "address", "domain %q is not hosted here", domain))
	}
	if d.AliasOf != "" {
		return nil, refuse("invalid-address", "address", "%q is an alias of %q: create the account there", domain, d.AliasOf)
	}
	c, err := getCOS(ctx, s.db, spec.COS)
	if err != nil {
		return nil, err
	}
	status := spec.Status
	if status == "" {
		status = StatusActive
	}
	if status != StatusActive && status != StatusLocked {
		return nil, invalid("status", `a new account's status must be "active" or "locked", got %q`, status)
	}
	if err := s.hash.CheckPolicy(spec.Password, c.MinPasswordLen, local); err != nil {
		return nil, refuse("weak-password", "password", "%v", err)
	}
	spec.DisplayName = strings.TrimSpace(spec.DisplayName)
	if len(spec.DisplayName) > 200 || strings.ContainsAny(spec.DisplayName, "\r\n") {
		return nil, invalid("display_name", "display name must be one line of at most 200 characters")
	}
	// Hash outside the transaction: argon2id is deliberately slow and must not hold the writer.
	hash, scram, err := s.hash.Hash(spec.Password)
	if err != nil {
		return nil, err
	}
	var id int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := lockTenant(ctx, tx, d.TenantID); err != nil {
			return err
		}
		t, err := getTenant(ctx, tx, strconv.FormatInt(d.TenantID, 10))
		if err != nil {
			return err
		}
		if t.Status != "active" {
			return refuse("tenant-suspended", "", "tenant %q is suspended: no new accounts", t.Name)
		}
		if err := addressFree(ctx, tx, address); err != nil {
			return err
		}
		if err := checkCap(ctx, tx, t, c); err != nil {
			return err
		}
		if err := s.checkCredit(ctx, t.ID, 0, c.ID); err != nil {
			return err
		}
		now := s.now()
		id, err = tx.InsertID(ctx, `INSERT INTO accounts (tenant_id, domain_id, address, password_hash, scram, display_name, cos_id, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, d.ID, address, hash, scram, spec.DisplayName, c.ID, status, now, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO addresses (address, tenant_id, domain_id, kind, account_id) VALUES (?, ?, ?, 'account', ?)`, address, t.ID, d.ID, id); err != nil {
			if db.IsUniqueViolation(err) {
				return refuse("address-taken", "address", "%q is already in use", address)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms) VALUES (?, ?, ?, ?)`, id, t.ID, c.ID, now); err != nil {
			return err
		}
		if s.opts.OnAccountCreated != nil {
			if err := s.opts.OnAccountCreated(ctx, tx, id); err != nil {
				return err
			}
		}
		return audit(ctx, tx, a, t.ID, "account.create", address, nil, map[string]any{"display_name": spec.DisplayName, "cos": c.Name, "status": status})
	})
	if err != nil {
		return nil, err
	}
	return getAccount(ctx, s.db, strconv.FormatInt(id, 10))
}

// checkCredit asks the credit gate, when there is one, whether the tenant may add the service.
func (s *Service) checkCredit(ctx context.Context, tenantID, fromCOS, toCOS int64) error {
	if s.opts.Credit == nil {
		return nil
	}
	return s.opts.Credit.CheckCredit(ctx, tenantID, fromCOS, toCOS)
}

// addressFree refuses an address used by an account, alias or list (checked before the insert so
// the error is precise; the addresses primary key is the guarantee).
func addressFree(ctx context.Context, q db.Querier, address string) error {
	var kind string
	err := q.QueryRowContext(ctx, `SELECT kind FROM addresses WHERE address = ?`, address).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return refuse("address-taken", "address", "%q is already in use by an %s", address, map[string]string{"account": "account", "alias": "alias", "list": "distribution list"}[kind])
}

func getAccount(ctx context.Context, q db.Querier, idOrAddress string) (*Account, error) {
	var row *sql.Row
	if id, err := strconv.ParseInt(idOrAddress, 10, 64); err == nil {
		row = q.QueryRowContext(ctx, `SELECT `+accountCols+accountFrom+` WHERE a.id = ?`, id)
	} else {
		row = q.QueryRowContext(ctx, `SELECT `+accountCols+accountFrom+` WHERE a.address = ?`, strings.ToLower(strings.TrimSpace(idOrAddress)))
	}
	a, err := scanAccount(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("no account %q", idOrAddress)
	}
	return a, err
}

// GetAccount finds an account by id or address.
func (s *Service) GetAccount(ctx context.Context, idOrAddress string) (*Account, error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	a, err := getAccount(ctx, s.db, idOrAddress)
	if err != nil {
		return nil, err
	}
	if actor.Role == RoleUser && actor.AccountID == a.ID {
		return a, nil
	}
	if _, err := authorize(ctx, scope{tenantID: a.TenantID, domainID: a.DomainID}, false); err != nil {
		return nil, hide(err, notFound("no account %q", idOrAddress))
	}
	return a, nil
}

// AccountFilter selects accounts to list.
type AccountFilter struct {
	Tenant string
	Domain string
	COS    string
	Status string
	Text   string // substring of address or display name
	Limit  int    // default 100, at most 1000
	Offset int
}

// ListAccounts returns one page of the accounts the actor may see, and the total matching.
func (s *Service) ListAccounts(ctx context.Context, f AccountFilter) ([]*Account, int, error) {
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, 0, ErrForbidden
	}
	var where []string
	var args []any
	switch actor.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin:
		where, args = append(where, "a.tenant_id = ?"), append(args, actor.TenantID)
	case RoleDomainAdmin:
		where, args = append(where, "a.domain_id IN (SELECT domain_id FROM admin_domains WHERE admin_id = ?)"), append(args, actor.ID)
	default:
		return nil, 0, ErrForbidden
	}
	if f.Tenant != "" {
		t, err := s.GetTenant(ctx, f.Tenant)
		if err != nil {
			return nil, 0, err
		}
		where, args = append(where, "a.tenant_id = ?"), append(args, t.ID)
	}
	if f.Domain != "" {
		d, err := s.GetDomain(ctx, f.Domain)
		if err != nil {
			return nil, 0, err
		}
		where, args = append(where, "a.domain_id = ?"), append(args, d.ID)
	}
	if f.COS != "" {
		c, err := getCOS(ctx, s.db, f.COS)
		if err != nil {
			return nil, 0, err
		}
		where, args = append(where, "a.cos_id = ?"), append(args, c.ID)
	}
	if f.Status != "" {
		where, args = append(where, "a.status = ?"), append(args, f.Status)
	}
	if f.Text != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(f.Text)) + "%"
		where, args = append(where, `(a.address LIKE ? ESCAPE '\' OR LOWER(a.display_name) LIKE ? ESCAPE '\')`), append(args, like, like)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*)`+accountFrom+cond, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountCols+accountFrom+cond+` ORDER BY a.address LIMIT ? OFFSET ?`, append(args, f.Limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []*Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// AccountUpdate changes an account; nil fields are left alone.
type AccountUpdate struct {
	DisplayName *string
	COS         *string
	Status      *string
	ForwardTo   *[]string
	ForwardKeep *bool
	AutoReply   *bool
	AutoSubject *string
	AutoBody    *string
}

// COSChange is what changing an account's class of service would do.
type COSChange struct {
	From           string   `json:"from"`
	To             string   `json:"to"`
	QuotaBytes     int64    `json:"quota_bytes"`
	UsedBytes      int64    `json:"used_bytes"`
	FeaturesLost   []string `json:"features_lost"`
	FeaturesGained []string `json:"features_gained"`
	Refused        bool     `json:"refused"`
	Reason         string   `json:"reason,omitempty"`
}

// PreviewCOSChange tells what moving an account to cos would mean, and whether it is allowed,
// without changing anything.
func (s *Service) PreviewCOSChange(ctx context.Context, account, cos string) (*COSChange, error) {
	acc, err := s.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	c, err := getCOS(ctx, s.db, cos)
	if err != nil {
		return nil, err
	}
	ch := &COSChange{From: acc.COS, To: c.Name, QuotaBytes: c.QuotaBytes, UsedBytes: acc.UsedBytes,
		FeaturesLost: FeatureNames(acc.FeatureMask &^ c.Features), FeaturesGained: FeatureNames(c.Features &^ acc.FeatureMask)}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := checkCOSChange(ctx, tx, acc, c); err != nil {
			return err
		}
		if c.ID != acc.COSID {
			if err := s.checkCredit(ctx, acc.TenantID, acc.COSID, c.ID); err != nil {
				return err
			}
		}
		return errPreviewDone
	})
	if !errors.Is(err, errPreviewDone) {
		var de *Error
		if !errors.As(err, &de) {
			return nil, err
		}
		ch.Refused, ch.Reason = true, de.Msg
	}
	return ch, nil
}

var errPreviewDone = errors.New("preview: roll back")

func checkCOSChange(ctx context.Context, tx *db.Tx, acc *Account, c *COS) error {
	if c.ID == acc.COSID {
		return nil
	}
	if c.QuotaBytes < acc.UsedBytes {
		return refuse("quota-below-usage", "cos", "%q has a quota of %d MB but the account uses %.1f MB",
			c.Name, c.QuotaBytes/MB, float64(acc.UsedBytes)/MB)
	}
	if c.MaxMessages > 0 && c.MaxMessages < acc.UsedMessages {
		return refuse("quota-below-usage", "cos", "%q allows %d messages but the account keeps %d",
			c.Name, c.MaxMessages, acc.UsedMessages)
	}
	if err := lockTenant(ctx, tx, acc.TenantID); err != nil {
		return err
	}
	t, err := getTenant(ctx, tx, strconv.FormatInt(acc.TenantID, 10))
	if err != nil {
		return err
	}
	return checkCap(ctx, tx, t, c)
}

// UpdateAccount changes an account. A class-of-service change re-checks the contract cap and
// is refused when the new quota is below the current usage.
func (s *Service) UpdateAccount(ctx context.Context, account string, u AccountUpdate) (*Account, error) {
	acc, err := s.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	actor, err := authorize(ctx, scope{tenantID: acc.TenantID, domainID: acc.DomainID}, true)
	self := false
	if err != nil {
		if a, _ := ActorFrom(ctx); a.Role == RoleUser && a.AccountID == acc.ID {
			actor, self, err = a, true, nil
		} else {
			return nil, err
		}
	}
	if self && (u.COS != nil || u.Status != nil) {
		return nil, forbidden("only an administrator may change the class of service or the status")
	}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		cur, err := getAccount(ctx, tx, strconv.FormatInt(acc.ID, 10))
		if err != nil {
			return err
		}
		sets := []string{"updated_at = ?"}
		args := []any{s.now()}
		if u.DisplayName != nil {
			n := strings.TrimSpace(*u.DisplayName)
			if len(n) > 200 || strings.ContainsAny(n, "\r\n") {
				return invalid("display_name", "display name must be one line of at most 200 characters")
			}
			sets, args = append(sets, "display_name = ?"), append(args, n)
		}
		if u.Status != nil {
			switch *u.Status {
			case StatusActive, StatusLocked, StatusClosed:
			default:
				return invalid("status", `status must be "active", "locked" or "closed", got %q`, *u.Status)
			}
			if *u.Status != StatusClosed && cur.Status == StatusClosed {
				// Re-opening counts against the cap again.
				c, _ := getCOS(ctx, tx, strconv.FormatInt(cur.COSID, 10))
				t, _ := getTenant(ctx, tx, strconv.FormatInt(cur.TenantID, 10))
				if err := checkCap(ctx, tx, t, c); err != nil {
					return err
				}
				if err := s.checkCredit(ctx, cur.TenantID, 0, cur.COSID); err != nil {
					return err
				}
			}
			sets, args = append(sets, "status = ?"), append(args, *u.Status)
		}
		if u.COS != nil {
			c, err := getCOS(ctx, tx, *u.COS)
			if err != nil {
				return err
			}
			if c.ID != cur.COSID {
				if err := checkCOSChange(ctx, tx, cur, c); err != nil {
					return err
				}
				// A closed account has no open history row: it gets one in its new class when
				// it is re-opened (below), so that billing never charges it while closed.
				if cur.Status != StatusClosed {
					if err := s.checkCredit(ctx, cur.TenantID, cur.COSID, c.ID); err != nil {
						return err
					}
					now := s.now()
					if _, err := tx.ExecContext(ctx, `UPDATE account_cos_history SET to_ms = ? WHERE account_id = ? AND to_ms IS NULL`, now, cur.ID); err != nil {
						return err
					}
					if _, err := tx.ExecContext(ctx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms) VALUES (?, ?, ?, ?)`, cur.ID, cur.TenantID, c.ID, now); err != nil {
						return err
					}
				}
				sets, args = append(sets, "cos_id = ?"), append(args, c.ID)
			}
		}
		if u.ForwardTo != nil {
			var clean []string
			for _, f := range *u.ForwardTo {
				if strings.TrimSpace(f) == "" {
					continue
				}
				l, d, err := NormalizeAddress(f)
				if err != nil {
					return refuse("invalid-address", "forward_to", "forwarding address %q is not valid", f)
				}
				if l+"@"+d == cur.Address {
					return invalid("forward_to", "an account cannot forward to itself")
				}
				clean = append(clean, l+"@"+d)
			}
			if len(clean) > 20 {
				return invalid("forward_to", "at most 20 forwarding addresses")
			}
			sets, args = append(sets, "forward_to = ?"), append(args, strings.Join(clean, ","))
		}
		if u.ForwardKeep != nil {
			sets, args = append(sets, "forward_keep = ?"), append(args, *u.ForwardKeep)
		}
		if u.AutoReply != nil {
			sets, args = append(sets, "autoreply = ?"), append(args, *u.AutoReply)
		}
		if u.AutoSubject != nil {
			sets, args = append(sets, "autoreply_subject = ?"), append(args, strings.TrimSpace(*u.AutoSubject))
		}
		if u.AutoBody != nil {
			if len(*u.AutoBody) > 64<<10 {
				return invalid("auto_reply_body", "auto-reply text is limited to 64 KB")
			}
			sets, args = append(sets, "autoreply_body = ?"), append(args, *u.AutoBody)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET `+strings.Join(sets, ", ")+` WHERE id = ?`, append(args, cur.ID)...); err != nil {
			return err
		}
		after, err := getAccount(ctx, tx, strconv.FormatInt(cur.ID, 10))
		if err != nil {
			return err
		}
		if after.Status == StatusClosed && cur.Status != StatusClosed {
			if _, err := tx.ExecContext(ctx, `UPDATE account_cos_history SET to_ms = ? WHERE account_id = ? AND to_ms IS NULL`, s.now(), cur.ID); err != nil {
				return err
			}
		} else if cur.Status == StatusClosed && after.Status != StatusClosed {
			if _, err := tx.ExecContext(ctx, `INSERT INTO account_cos_history (account_id, tenant_id, cos_id, from_ms) VALUES (?, ?, ?, ?)`, cur.ID, cur.TenantID, after.COSID, s.now()); err != nil {
				return err
			}
		}
		return audit(ctx, tx, actor, cur.TenantID, "account.update", cur.Address, cur, after)
	})
	if err != nil {
		return nil, err
	}
	return getAccount(ctx, s.db, strconv.FormatInt(acc.ID, 10))
}

// SetPassword changes an account's password, subject to the policy of its class of service.
func (s *Service) SetPassword(ctx context.Context, account, password string) error {
	acc, err := s.GetAccount(ctx, account)
	if err != nil {
		return err
	}
	actor, err := authorize(ctx, scope{tenantID: acc.TenantID, domainID: acc.DomainID}, true)
	if err != nil {
		a, _ := ActorFrom(ctx)
		if a.Role != RoleUser || a.AccountID != acc.ID {
			return err
		}
		actor = a
	}
	c, err := getCOS(ctx, s.db, strconv.FormatInt(acc.COSID, 10))
	if err != nil {
		return err
	}
	local, _, _ := strings.Cut(acc.Address, "@")
	if err := s.hash.CheckPolicy(password, c.MinPasswordLen, local); err != nil {
		return refuse("weak-password", "password", "%v", err)
	}
	hash, scram, err := s.hash.Hash(password)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = ?, scram = ?, updated_at = ? WHERE id = ?`, hash, scram, s.now(), acc.ID); err != nil {
			return err
		}
		// The password itself is never recorded, only that it changed and when.
		return audit(ctx, tx, actor, acc.TenantID, "account.password", acc.Address, map[string]any{"password": "previous"}, map[string]any{"password": "changed"})
	})
}

// RemoveAccount deletes an account with its aliases and mailboxes (the mailstore's rows go by
// cascade; its blobs by the sweep). List memberships of the address are removed too.
func (s *Service) RemoveAccount(ctx context.Context, account string) error {
	acc, err := s.GetAccount(ctx, account)
	if err != nil {
		return err
	}
	actor, err := authorize(ctx, scope{tenantID: acc.TenantID, domainID: acc.DomainID}, true)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE account_cos_history SET to_ms = ? WHERE account_id = ? AND to_ms IS NULL`, s.now(), acc.ID); err != nil {
			return err
		}
		// Give back blob references of the account's messages before the cascade removes them.
		if _, err := tx.ExecContext(ctx, `UPDATE blobs SET refs = refs - (SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id
			WHERE x.account_id = ? AND m.blob_id = blobs.id) WHERE id IN (SELECT m.blob_id FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = ?)`, acc.ID, acc.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM list_members WHERE member IN (SELECT address FROM addresses WHERE account_id = ?)`, acc.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM addresses WHERE account_id = ?`, acc.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, acc.ID); err != nil {
			return fmt.Errorf("directory: remove account: %w", err)
		}
		return audit(ctx, tx, actor, acc.TenantID, "account.remove", acc.Address, acc, nil)
	})
}

// Authenticate checks a login for the mail protocols: the account's address (or one of its
// aliases) and password. Every failure is ErrInvalidCredentials; locked or closed accounts and
// suspended tenants fail like a wrong password.
func (s *Service) Authenticate(ctx context.Context, login, password string) (*Account, error) {
	a, err := s.loginAccount(ctx, login)
	if err != nil {
		s.hash.Verify(dummyHash, password)
		return nil, ErrInvalidCredentials
	}
	ok, err := s.hash.Verify(a.passwordHash, password)
	if (err != nil || !ok) && !s.checkAppPassword(ctx, a.ID, password) {
		return nil, ErrInvalidCredentials
	}
	if a.Status != StatusActive || a.tenantStatus != "active" {
		return nil, ErrInvalidCredentials
	}
	s.touchLogin(ctx, a)
	return a, nil
}

// loginAccount finds the account a login names: its address or one of its aliases.
func (s *Service) loginAccount(ctx context.Context, login string) (*Account, error) {
	login = strings.ToLower(strings.TrimSpace(login))
	if strings.ContainsRune(login, '\x00') {
		return nil, ErrInvalidCredentials
	}
	a, err := getAccount(ctx, s.db, login)
	if err != nil {
		var id int64
		if e := s.db.QueryRowContext(ctx, `SELECT account_id FROM addresses WHERE address = ? AND kind = 'alias'`, login).Scan(&id); e == nil {
			a, err = getAccount(ctx, s.db, strconv.FormatInt(id, 10))
		}
	}
	return a, err
}

func (s *Service) touchLogin(ctx context.Context, a *Account) {
	if now := s.now(); now-a.LastLoginAt > 60_000 {
		s.db.ExecContext(ctx, `UPDATE accounts SET last_login_at = ? WHERE id = ?`, now, a.ID)
	}
}

// SCRAMSecret returns the stored SCRAM-SHA-256 credentials of the account a login names, for
// a SCRAM exchange (the password itself is never needed).
func (s *Service) SCRAMSecret(ctx context.Context, login string) (string, error) {
	a, err := s.loginAccount(ctx, login)
	if err != nil {
		return "", ErrInvalidCredentials
	}
	var secret string
	if err := s.db.QueryRowContext(ctx, `SELECT scram FROM accounts WHERE id = ?`, a.ID).Scan(&secret); err != nil || secret == "" {
		return "", ErrInvalidCredentials
	}
	return secret, nil
}

// CompleteLogin returns the account of a login whose proof was checked elsewhere (a SCRAM
// exchange), applying the same status checks as Authenticate.
func (s *Service) CompleteLogin(ctx context.Context, login string) (*Account, error) {
	a, err := s.loginAccount(ctx, login)
	if err != nil || a.Status != StatusActive || a.tenantStatus != "active" {
		return nil, ErrInvalidCredentials
	}
	s.touchLogin(ctx, a)
	return a, nil
}

// dummyHash makes a login for an unknown user cost a verification too.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGEtZHVtbXktc2FsdA$2dx2sW4dR0n7t4KQ8p7hJ0o8m3cBqk5a4zCn0Jv9q1A"
