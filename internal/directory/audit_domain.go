package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// AuditDomainTx records, inside tx, a change that another package makes to the data of a
// hosted domain (the DKIM keys made when its records are first shown or its first message is
// signed), under the domain's tenant so that the tenant's administrators find it; a domain not
// hosted here is the provider's. The actor is the one in ctx, or the system when there is none
// (keys made while signing a message that arrived over SMTP): the change is made already, and
// this records it rather than authorising it.
func (s *Service) AuditDomainTx(ctx context.Context, tx *db.Tx, domain, action string, before, after any) error {
	a, ok := ActorFrom(ctx)
	if !ok {
		a = SystemActor("system")
	}
	domain = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	var tenantID int64
	err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM domains WHERE name = ?`, domain).Scan(&tenantID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("directory: audit: tenant of %s: %w", domain, err)
	}
	return audit(ctx, tx, a, tenantID, action, domain, before, after)
}
