package mailstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/mailstore"
)

// TestCRLFSize: WithCRLFSize gives the size a message has with CRLF line endings (what POP3
// announces and sends) from the blob row, for contents stored with CRLF, with bare LF, mixed,
// and without a final line break; and migration 0020 computes it for contents stored before it.
func TestCRLFSize(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := newStore(t, d)
		acc := newAccount(t, d, "crlf@x.test", 1<<30)
		inbox, err := s.Mailbox(ctx, acc, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			raw  string
			want int64
		}{
			{"CRLF", "Subject: a\r\n\r\nbody\r\n", 20},
			{"bare LF", "Subject: b\n\nline 1\nline 2\n", 30},
			{"mixed", "Subject: c\r\n\nbody\n", 20},
			{"no final line break", "Subject: d\r\n\r\nbody", 20},
		}
		check := func(when string) {
			t.Helper()
			i := 0
			err := s.Messages(ctx, inbox.ID, nil, mailstore.WithCRLFSize, func(m *mailstore.Message) error {
				tc := tests[i]
				if m.Size != int64(len(tc.raw)) || m.CRLFSize != tc.want {
					t.Errorf("%s, %s: size %d, CRLF size %d; want %d, %d", when, tc.name, m.Size, m.CRLFSize, len(tc.raw), tc.want)
				}
				i++
				return nil
			})
			if err != nil || i != len(tests) {
				t.Fatalf("%s: %d messages, %v", when, i, err)
			}
		}
		// The outbound queue may have made the row of the same content first, without the
		// size difference: the delivery sets it.
		bare := blob.RefOf([]byte(tests[1].raw))
		if _, err := d.ExecContext(ctx, `INSERT INTO blobs (key, size, refs, created_at) VALUES (?, ?, 1, 0)`, bare.Key, bare.Size); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			if _, err := s.Append(ctx, acc, inbox.ID, []byte(tc.raw), 0, nil, time.Now()); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		check("delivered")

		// As stored before migration 0020: the column is gone, the value only in the metadata;
		// the migrations from 0020 on run again (each of them can, so far).
		err = d.WriteTx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE blobs DROP COLUMN crlf_extra`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM schema_version WHERE version >= 20`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		_, latest, err := d.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := d.Migrate(ctx); err != nil || n != latest-19 {
			t.Fatalf("migrate: %d applied, %v", n, err)
		}
		check("migrated")
	})
}
