package mailstore

import (
	"context"
	"fmt"
	"time"
)

// Verify checks the store's invariants and returns one line per problem found (none means
// clean): blob reference counts equal the messages and queued deliveries that use them, every referenced blob exists
// with its size (as a file, or inline in the database), account and mailbox counters equal what their messages add up to, and UIDNEXT
// is above every UID.
func (s *Store) Verify(ctx context.Context) ([]string, error) {
	var problems []string
	checks := []struct {
		what, q string
	}{
		{"blob refs", `SELECT b.key, b.refs, (SELECT COUNT(*) FROM messages m WHERE m.blob_id = b.id) + (SELECT COUNT(*) FROM queue q WHERE q.blob_id = b.id) FROM blobs b
			WHERE b.refs <> (SELECT COUNT(*) FROM messages m WHERE m.blob_id = b.id) + (SELECT COUNT(*) FROM queue q WHERE q.blob_id = b.id)`},
		{"account usage", `SELECT a.address, a.used_bytes, COALESCE((SELECT SUM(m.size) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id), 0) FROM accounts a
			WHERE a.used_bytes <> COALESCE((SELECT SUM(m.size) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id), 0)`},
		{"account messages", `SELECT a.address, a.used_messages, (SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id) FROM accounts a
			WHERE a.used_messages <> (SELECT COUNT(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE x.account_id = a.id)`},
		{"mailbox count", `SELECT x.name, x.msg_count, (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = x.id) FROM mailboxes x
			WHERE x.msg_count <> (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = x.id)`},
		{"mailbox size", `SELECT x.name, x.msg_size, COALESCE((SELECT SUM(m.size) FROM messages m WHERE m.mailbox_id = x.id), 0) FROM mailboxes x
			WHERE x.msg_size <> COALESCE((SELECT SUM(m.size) FROM messages m WHERE m.mailbox_id = x.id), 0)`},
		{"mailbox unseen", `SELECT x.name, x.unseen_count, (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = x.id AND (m.flags & 1) = 0) FROM mailboxes x
			WHERE x.unseen_count <> (SELECT COUNT(*) FROM messages m WHERE m.mailbox_id = x.id AND (m.flags & 1) = 0)`},
		{"inline body", `SELECT b.key, LENGTH(d.data), b.size FROM blobs b JOIN blob_data d ON d.blob_id = b.id WHERE LENGTH(d.data) <> b.size`},
		{"uidnext", `SELECT x.name, x.uidnext, (SELECT MAX(m.uid) FROM messages m WHERE m.mailbox_id = x.id) FROM mailboxes x
			WHERE x.uidnext <= (SELECT COALESCE(MAX(m.uid), 0) FROM messages m WHERE m.mailbox_id = x.id)`},
	}
	for _, c := range checks {
		rows, err := s.db.QueryContext(ctx, c.q)
		if err != nil {
			return nil, fmt.Errorf("mailstore: verify %s: %w", c.what, err)
		}
		for rows.Next() {
			var name string
			var have, want int64
			if err := rows.Scan(&name, &have, &want); err != nil {
				rows.Close()
				return nil, err
			}
			problems = append(problems, fmt.Sprintf("%s: %s has %d, expected %d", c.what, name, have, want))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT key, size FROM blobs b WHERE refs > 0 AND NOT EXISTS (SELECT 1 FROM blob_data d WHERE d.blob_id = b.id)`)
	if err != nil {
		return nil, fmt.Errorf("mailstore: verify blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var size int64
		if err := rows.Scan(&key, &size); err != nil {
			return nil, err
		}
		got, err := s.blobs.Stat(ctx, key)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("blob %s: %v", key, err))
		case got != size:
			problems = append(problems, fmt.Sprintf("blob %s: size %d on disk, %d recorded", key, got, size))
		}
	}
	return problems, rows.Err()
}

// Sweep removes blobs no message references any more: first the rows whose count fell to zero,
// then any file in the blob store older than grace that has no referenced row (left by a crash
// between writing a blob and committing its message). It returns how many blobs it removed.
func (s *Store) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	cutoff := time.Now().Add(-grace).UnixMilli()
	rows, err := s.db.QueryContext(ctx, `SELECT key, EXISTS (SELECT 1 FROM blob_data d WHERE d.blob_id = b.id) FROM blobs b WHERE refs = 0 AND created_at < ?`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("mailstore: sweep: %w", err)
	}
	type unused struct {
		key    string
		inline bool
	}
	var keys []unused
	for rows.Next() {
		var u unused
		if err := rows.Scan(&u.key, &u.inline); err != nil {
			rows.Close()
			return 0, err
		}
		keys = append(keys, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	removedInline := 0
	for _, u := range keys {
		// Delete the row only if still unreferenced; an inline body goes with it, a file with
		// the orphan sweep below.
		res, err := s.db.ExecContext(ctx, `DELETE FROM blobs WHERE key = ? AND refs = 0`, u.key)
		if err != nil {
			return removedInline, fmt.Errorf("mailstore: sweep: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 && u.inline {
			removedInline++
		}
	}
	removed, err := s.blobs.Sweep(ctx, s.referenced, grace)
	if err != nil {
		return removedInline + removed, fmt.Errorf("mailstore: sweep files: %w", err)
	}
	return removedInline + removed, nil
}

// referenced reports which of keys have a blob row (any row: a row with zero refs younger than
// the grace period is still being delivered or just expunged).
func (s *Store) referenced(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM blobs WHERE key = ?`, k).Scan(&n); err != nil {
			return nil, err
		}
		out[k] = n > 0
	}
	return out, nil
}
