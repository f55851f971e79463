package mailstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/postamail/posta/internal/db"
)

// CreateDefaultMailboxesMany creates the default mailboxes of accounts created in the same
// transaction (bulk provisioning): what CreateDefaultMailboxes does for one account, in a few
// statements for many. The accounts must be new (their UIDVALIDITY counter still zero): the
// mailboxes get UIDVALIDITY now, now+1, ... in DefaultMailboxes order, and the counter the last.
func CreateDefaultMailboxesMany(ctx context.Context, tx *db.Tx, accountIDs []int64) error {
	now := time.Now().Unix()
	last := now + int64(len(DefaultMailboxes)) - 1
	created := db.Now()
	const perStmt = 100 // accounts per statement: 600 rows, 3000 parameters
	for start := 0; start < len(accountIDs); start += perStmt {
		ids := accountIDs[start:min(start+perStmt, len(accountIDs))]
		var q strings.Builder
		q.WriteString(`INSERT INTO mailboxes (account_id, name, special_use, uidvalidity, created_at) VALUES `)
		args := make([]any, 0, len(ids)*len(DefaultMailboxes)*5)
		for i, id := range ids {
			for k, m := range DefaultMailboxes {
				if i > 0 || k > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?, ?, ?, ?)")
				args = append(args, id, m.Name, m.SpecialUse, uint32(now+int64(k)), created)
			}
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("mailstore: create default mailboxes: %w", err)
		}
		in := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		upd := make([]any, 0, len(ids)+1)
		upd = append(upd, last)
		for _, id := range ids {
			upd = append(upd, id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET last_uidvalidity = ? WHERE id IN (`+in+`)`, upd...); err != nil {
			return fmt.Errorf("mailstore: create default mailboxes: %w", err)
		}
	}
	return nil
}
