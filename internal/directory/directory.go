// Package directory owns who and what exists on a posta installation: tenants (the provider's
// customers) and their contracts, domains and alias domains, classes of service, accounts,
// aliases, distribution lists, administrators and their roles, and the audit log of every change
// to them. Every rule about these objects lives here and holds for every caller (CLI, JSON API,
// web console, bulk provisioning): uniqueness of addresses across kinds, domain ownership,
// contract caps, quota against usage, password policy. Authorisation is decided here too, in one
// function, deny by default.
//
// It does not store mail: the mailstore owns mailboxes (the directory calls a hook to create them
// in the same transaction as the account) and the usage counters it reads.
package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/postamail/posta/internal/db"
)

// PasswordHasher hashes and checks passwords (internal/auth's Hasher).
type PasswordHasher interface {
	Hash(password string) (hash, scram string, err error)
	Verify(hash, password string) (bool, error)
	CheckPolicy(password string, minLen int, localPart string) error
}

// Options configure the service.
type Options struct {
	// DefaultMaxMessageSize applies when neither tenant nor COS sets one (29 MB).
	DefaultMaxMessageSize int64
	// OnAccountCreated runs inside the transaction that creates an account (the mailstore
	// creates the default mailboxes there).
	OnAccountCreated func(ctx context.Context, tx *db.Tx, accountID int64) error
	// OnAccountsCreated, when set, replaces OnAccountCreated for the accounts a batch creates
	// (bulk provisioning), in a few statements for many accounts.
	OnAccountsCreated func(ctx context.Context, tx *db.Tx, accountIDs []int64) error
	// Credit, when set, is asked inside the transaction before an account is created or
	// re-opened (fromCOS 0) or moved to another class of service; its refusal (kind
	// "insufficient-credit") stops the change. internal/billing implements it for pay-per-use
	// tenants out of credit; it must only read.
	Credit CreditChecker
	// Clock returns the current time (tests); default time.Now.
	Clock func() time.Time
}

// CreditChecker decides whether a tenant may add a charged service: an account of toCOS, or a
// move from fromCOS to toCOS.
type CreditChecker interface {
	CheckCredit(ctx context.Context, tenantID, fromCOS, toCOS int64) error
}

// Service is the directory.
type Service struct {
	db   *db.DB
	hash PasswordHasher
	opts Options
}

// New returns the directory over d.
func New(d *db.DB, h PasswordHasher, opts Options) *Service {
	if opts.DefaultMaxMessageSize <= 0 {
		opts.DefaultMaxMessageSize = 30408704
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Service{db: d, hash: h, opts: opts}
}

func (s *Service) now() int64 { return s.opts.Clock().UnixMilli() }

// Role is what an actor may do.
type Role string

const (
	RoleSystem      Role = "system"   // the CLI on the server itself
	RoleProvider    Role = "provider" // the provider's administrators
	RoleTenantAdmin Role = "tenant"   // administrators of one tenant
	RoleDomainAdmin Role = "domain"   // administrators of some domains of one tenant
	RoleUser        Role = "user"     // an account managing itself
)

// Actor is who makes a call: it decides what the call may see and change, and is recorded in
// the audit log.
type Actor struct {
	Role      Role
	ID        int64
	Name      string
	TenantID  int64
	DomainIDs []int64
	AccountID int64
	Remote    string
	// MustEnrolTOTP: an administrator without a second factor where the provider or its tenant
	// requires one. It may only turn two-factor login on; every change is refused until then.
	MustEnrolTOTP bool
}

type actorKey struct{}

// WithActor returns a context carrying the actor.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// SystemActor is the actor of commands run on the server by its operator.
func SystemActor(name string) Actor { return Actor{Role: RoleSystem, Name: name, Remote: "local"} }

// scope says what an action touches.
type scope struct {
	tenantID int64 // 0: provider-level
	domainID int64 // 0: tenant-level
}

// authorize is the one place where access is decided. Deny by default; an actor asking about
// another tenant's object learns nothing (ErrNotFound, not ErrForbidden).
func authorize(ctx context.Context, sc scope, write bool) (Actor, error) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return a, ErrForbidden
	}
	if write && a.MustEnrolTOTP {
		return a, errTOTPEnrolment
	}
	switch a.Role {
	case RoleSystem, RoleProvider:
		return a, nil
	case RoleTenantAdmin:
		if sc.tenantID == 0 {
			return a, forbidden("only the provider may do this")
		}
		if sc.tenantID != a.TenantID {
			return a, ErrNotFound
		}
		return a, nil
	case RoleDomainAdmin:
		if sc.tenantID != a.TenantID {
			if sc.tenantID == 0 {
				return a, forbidden("only the provider may do this")
			}
			return a, ErrNotFound
		}
		if sc.domainID == 0 {
			if write {
				return a, forbidden("a domain administrator may change only objects of its domains")
			}
			return a, nil
		}
		if !slices.Contains(a.DomainIDs, sc.domainID) {
			return a, ErrNotFound
		}
		return a, nil
	}
	return a, ErrForbidden
}

// RequireProvider allows only the provider's administrators and the operator's CLI: for
// node-wide things such as the outbound queue.
func RequireProvider(ctx context.Context) error {
	_, err := authorize(ctx, scope{}, true)
	if errors.Is(err, ErrNotFound) {
		return forbidden("only the provider's administrators may do this")
	}
	return err
}

// WriteAudit records, inside tx, a change that another package (API tokens, migration jobs,
// contacts and calendar imports) makes in its own transaction, as the actor in ctx (without
// one the change is refused): who, role, from where, when, before and
// after (nil for nothing: a creation has no before, a removal no after).
func WriteAudit(ctx context.Context, tx *db.Tx, tenantID int64, action, target string, before, after any) error {
	a, ok := ActorFrom(ctx)
	if !ok {
		return ErrForbidden
	}
	return audit(ctx, tx, a, tenantID, action, target, before, after)
}

// AuditAs records, inside tx, a change made by a, for a package that holds its actor already
// (billing's service methods, which checked it).
func AuditAs(ctx context.Context, tx *db.Tx, a Actor, tenantID int64, action, target string, before, after any) error {
	return audit(ctx, tx, a, tenantID, action, target, before, after)
}

// RecordChange writes an audit row on its own, for a change already made elsewhere that has no
// transaction to share (the operator's actions on the outbound queue).
func (s *Service) RecordChange(ctx context.Context, tenantID int64, action, target string, before, after any) error {
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		return WriteAudit(ctx, tx, tenantID, action, target, before, after)
	})
}

// audit records a change inside tx.
func audit(ctx context.Context, tx *db.Tx, a Actor, tenantID int64, action, target string, before, after any) error {
	enc := func(v any) string {
		if v == nil {
			return ""
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	var tid any
	if tenantID != 0 {
		tid = tenantID
	}
	name := a.Name
	if name == "" {
		name = string(a.Role)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, role, tenant_id, action, target, before, after, remote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		db.Now(), name, string(a.Role), tid, action, target, enc(before), enc(after), a.Remote)
	if err != nil {
		return fmt.Errorf("directory: audit: %w", err)
	}
	return nil
}
