package directory

import (
	"context"

	"github.com/postamail/posta/internal/db"
)

// AuditTx records, inside tx, a change that another package made on the actor's behalf (a
// migration job queued or stopped): who, from where, the tenant, what and on what. The actor is
// the one in ctx; without one the change is refused.
func AuditTx(ctx context.Context, tx *db.Tx, tenantID int64, action, target string, before, after any) error {
	a, ok := ActorFrom(ctx)
	if !ok {
		return ErrForbidden
	}
	return audit(ctx, tx, a, tenantID, action, target, before, after)
}
