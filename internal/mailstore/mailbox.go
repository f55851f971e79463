package mailstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
)

// Separator is the hierarchy separator of mailbox names.
const Separator = "/"

// Inbox is the name of the mailbox that receives new mail.
const Inbox = "INBOX"

// Special-use attributes (RFC 6154).
const (
	UseSent    = `\Sent`
	UseDrafts  = `\Drafts`
	UseTrash   = `\Trash`
	UseJunk    = `\Junk`
	UseArchive = `\Archive`
	UseAll     = `\All`
	UseFlagged = `\Flagged`
)

// DefaultMailboxes are created with every account.
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{Inbox, ""}, {"Sent", UseSent}, {"Drafts", UseDrafts}, {"Trash", UseTrash},
	{"Junk", UseJunk}, {"Archive", UseArchive},
}

// Mailbox is one mailbox's state as committed.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string
	SpecialUse    string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq int64
	Subscribed    bool
	Messages      int64
	Unseen        int64
	Size          int64
	// NoSelect: a placeholder of the hierarchy, kept when the mailbox was deleted while it had
	// children (RFC 9051 §6.3.4); it holds no messages and cannot be selected.
	NoSelect bool
}

const mailboxCols = `id, account_id, name, special_use, uidvalidity, uidnext, highest_modseq, subscribed, msg_count, unseen_count, msg_size, noselect`

func scanMailbox(sc interface{ Scan(...any) error }) (*Mailbox, error) {
	var m Mailbox
	err := sc.Scan(&m.ID, &m.AccountID, &m.Name, &m.SpecialUse, &m.UIDValidity, &m.UIDNext,
		&m.HighestModSeq, &m.Subscribed, &m.Messages, &m.Unseen, &m.Size, &m.NoSelect)
	return &m, err
}

// NormalizeName validates a mailbox name and returns its canonical form: "INBOX" in any case
// becomes INBOX (also as the first level), empty levels and surrounding separators are refused.
func NormalizeName(name string) (string, error) {
	if name == "" || !utf8.ValidString(name) || len(name) > 1000 {
		return "", fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	parts := strings.Split(name, Separator)
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("%w: %q has an empty level", ErrInvalidName, name)
		}
		for _, r := range p {
			if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
				return "", fmt.Errorf("%w: %q contains a forbidden character", ErrInvalidName, name)
			}
		}
		if i == 0 && strings.EqualFold(p, Inbox) {
			parts[0] = Inbox
		}
	}
	return strings.Join(parts, Separator), nil
}

// CreateDefaultMailboxes creates the standard mailboxes of a new account inside tx (the
// directory calls it in the transaction that creates the account).
func CreateDefaultMailboxes(ctx context.Context, tx *db.Tx, accountID int64) error {
	for _, m := range DefaultMailboxes {
		if _, err := createMailboxTx(ctx, tx, accountID, m.Name, m.SpecialUse); err != nil {
			return fmt.Errorf("mailstore: create %s: %w", m.Name, err)
		}
	}
	return nil
}

func createMailboxTx(ctx context.Context, tx *db.Tx, accountID int64, name, use string) (int64, error) {
	// Check first: on PostgreSQL a failed INSERT would abort the whole transaction.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name).Scan(&n); err != nil {
		return 0, err
	}
	if n > 0 {
		return 0, ErrMailboxExists
	}
	// UIDVALIDITY must never repeat for a name (RFC 9051 §2.3.1.1): a per-account counter that
	// starts at the current time and only grows.
	var uv int64
	err := tx.QueryRowContext(ctx, `UPDATE accounts SET last_uidvalidity = CASE WHEN last_uidvalidity + 1 > ? THEN last_uidvalidity + 1 ELSE ? END WHERE id = ? RETURNING last_uidvalidity`,
		time.Now().Unix(), time.Now().Unix(), accountID).Scan(&uv)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoAccount
	}
	if err != nil {
		return 0, err
	}
	id, err := tx.InsertID(ctx, `INSERT INTO mailboxes (account_id, name, special_use, uidvalidity, created_at) VALUES (?, ?, ?, ?, ?)`,
		accountID, name, use, uint32(uv), db.Now())
	if db.IsUniqueViolation(err) {
		return 0, ErrMailboxExists
	}
	return id, err
}

// Mailboxes lists an account's mailboxes ordered by name.
func (s *Store) Mailboxes(ctx context.Context, accountID int64) ([]*Mailbox, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, fmt.Errorf("mailstore: list mailboxes: %w", err)
	}
	defer rows.Close()
	var out []*Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Mailbox returns the named mailbox of an account; a \Noselect placeholder is no mailbox
// (ErrNoMailbox) for selecting, appending or copying.
func (s *Store) Mailbox(ctx context.Context, accountID int64, name string) (*Mailbox, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	m, err := scanMailbox(s.db.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && m.NoSelect) {
		return nil, ErrNoMailbox
	}
	return m, err
}

// MailboxByID returns a mailbox by id, checking it belongs to the account.
func (s *Store) MailboxByID(ctx context.Context, accountID, id int64) (*Mailbox, error) {
	m, err := scanMailbox(s.db.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND id = ?`, accountID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoMailbox
	}
	return m, err
}

// MailboxBySpecialUse returns the account's mailbox with the given special use (e.g. UseJunk).
func (s *Store) MailboxBySpecialUse(ctx context.Context, accountID int64, use string) (*Mailbox, error) {
	m, err := scanMailbox(s.db.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND special_use = ? ORDER BY id LIMIT 1`, accountID, use))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoMailbox
	}
	return m, err
}

// CreateMailbox creates a mailbox and any missing parents (RFC 9051 §6.3.4).
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (*Mailbox, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	switch specialUse {
	case "", UseSent, UseDrafts, UseTrash, UseJunk, UseArchive, UseAll, UseFlagged:
	default:
		return nil, fmt.Errorf("%w: unknown special use %q", ErrInvalidName, specialUse)
	}
	var modseq int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		parts := strings.Split(name, Separator)
		for i := 1; i < len(parts); i++ {
			parent := strings.Join(parts[:i], Separator)
			if _, err := createMailboxTx(ctx, tx, accountID, parent, ""); err != nil && !errors.Is(err, ErrMailboxExists) {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE mailboxes SET noselect = FALSE, special_use = ? WHERE account_id = ? AND name = ? AND noselect`, specialUse, accountID, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Not a \Noselect placeholder made selectable again: a new mailbox.
			if _, err := createMailboxTx(ctx, tx, accountID, name, specialUse); err != nil {
				return err
			}
		}
		modseq, err = bumpModSeq(ctx, tx, accountID)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.bus.Publish(changes.Change{AccountID: accountID, ModSeq: modseq})
	return s.Mailbox(ctx, accountID, name)
}

// DeleteMailbox deletes a mailbox and its messages. A mailbox with children loses its messages
// and stays as a \Noselect placeholder of the hierarchy (RFC 9051 §6.3.4); a placeholder is
// removed once it has no children. INBOX, and a placeholder that still has children, cannot be
// deleted (ErrCannotDelete).
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name, err := NormalizeName(name)
	if err != nil {
		return err
	}
	if name == Inbox {
		return fmt.Errorf("%w: INBOX", ErrCannotDelete)
	}
	var modseq int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var id int64
		var noselect bool
		err := tx.QueryRowContext(ctx, `SELECT id, noselect FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name).Scan(&id, &noselect)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoMailbox
		}
		if err != nil {
			return err
		}
		var children int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailboxes WHERE account_id = ? AND name LIKE ? ESCAPE '\'`,
			accountID, likePrefix(name+Separator)).Scan(&children); err != nil {
			return err
		}
		if children > 0 {
			if noselect {
				return fmt.Errorf("%w: %s has inferior hierarchical names", ErrCannotDelete, name)
			}
			modseq, err = keepAsNoSelect(ctx, tx, accountID, id)
			return err
		}
		if err := releaseMessages(ctx, tx, accountID, `mailbox_id = ?`, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mailboxes WHERE id = ?`, id); err != nil {
			return err
		}
		modseq, err = bumpModSeq(ctx, tx, accountID)
		return err
	})
	if err != nil {
		return err
	}
	s.bus.Publish(changes.Change{AccountID: accountID, ModSeq: modseq})
	return nil
}

// keepAsNoSelect turns a mailbox that has children into a \Noselect placeholder: its messages
// are expunged (tombstones for sessions that have it selected) and given back to the quota.
func keepAsNoSelect(ctx context.Context, tx *db.Tx, accountID, id int64) (int64, error) {
	modseq, err := bumpModSeq(ctx, tx, accountID)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT mailbox_id, uid, ? FROM messages WHERE mailbox_id = ?`, modseq, id); err != nil {
		return 0, err
	}
	if err := releaseMessages(ctx, tx, accountID, `mailbox_id = ?`, id); err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET noselect = TRUE, special_use = '', msg_count = 0, unseen_count = 0, msg_size = 0, highest_modseq = ? WHERE id = ?`, modseq, id)
	return modseq, err
}

// releaseMessages deletes the messages selected by where (with args) and gives back their
// quota and blob references. It leaves no tombstones: the caller deletes the mailbox itself.
func releaseMessages(ctx context.Context, tx *db.Tx, accountID int64, where string, args ...any) error {
	var n, size int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages WHERE `+where, args...).Scan(&n, &size); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE blobs SET refs = refs - (SELECT COUNT(*) FROM messages m WHERE m.blob_id = blobs.id AND m.`+where+`) WHERE id IN (SELECT blob_id FROM messages WHERE `+where+`)`, append(args, args...)...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE `+where, args...); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE accounts SET used_bytes = used_bytes - ?, used_messages = used_messages - ? WHERE id = ?`, size, n, accountID)
	return err
}

// RenameMailbox renames a mailbox and its children. Renaming INBOX moves its messages to the new
// mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, from, to string) error {
	from, err := NormalizeName(from)
	if err != nil {
		return err
	}
	to, err = NormalizeName(to)
	if err != nil {
		return err
	}
	if to == Inbox || strings.HasPrefix(to, from+Separator) {
		return fmt.Errorf("%w: cannot rename %s to %s", ErrInvalidName, from, to)
	}
	var modseq int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, from).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNoMailbox
		}
		if err != nil {
			return err
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, to).Scan(&exists); err != nil {
			return err
		}
		if exists > 0 {
			return ErrMailboxExists
		}
		parts := strings.Split(to, Separator)
		for i := 1; i < len(parts); i++ {
			if _, err := createMailboxTx(ctx, tx, accountID, strings.Join(parts[:i], Separator), ""); err != nil && !errors.Is(err, ErrMailboxExists) {
				return err
			}
		}
		modseq, err = bumpModSeq(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if from == Inbox {
			return renameInbox(ctx, tx, accountID, id, to, modseq)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? WHERE id = ?`, to, id); err != nil {
			return err
		}
		// Children: replace the prefix.
		_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? || SUBSTR(name, ?) WHERE account_id = ? AND name LIKE ? ESCAPE '\'`,
			to+Separator, len(from+Separator)+1, accountID, likePrefix(from+Separator))
		return err
	})
	if err != nil {
		return err
	}
	s.bus.Publish(changes.Change{AccountID: accountID, ModSeq: modseq})
	return nil
}

func renameInbox(ctx context.Context, tx *db.Tx, accountID, inboxID int64, to string, modseq int64) error {
	newID, err := createMailboxTx(ctx, tx, accountID, to, "")
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT mailbox_id, uid, ? FROM messages WHERE mailbox_id = ?`, modseq, inboxID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET uidnext = (SELECT uidnext FROM mailboxes WHERE id = ?), msg_count = (SELECT msg_count FROM mailboxes WHERE id = ?),
		unseen_count = (SELECT unseen_count FROM mailboxes WHERE id = ?), msg_size = (SELECT msg_size FROM mailboxes WHERE id = ?), highest_modseq = ? WHERE id = ?`,
		inboxID, inboxID, inboxID, inboxID, modseq, newID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET mailbox_id = ?, modseq = ? WHERE mailbox_id = ?`, newID, modseq, inboxID); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE mailboxes SET msg_count = 0, unseen_count = 0, msg_size = 0, highest_modseq = ? WHERE id = ?`, modseq, inboxID)
	return err
}

// SetSubscribed changes a mailbox's subscription.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, on bool) error {
	name, err := NormalizeName(name)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE mailboxes SET subscribed = ? WHERE account_id = ? AND name = ?`, on, accountID, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNoMailbox
		}
		return nil
	})
}

func bumpModSeq(ctx context.Context, tx *db.Tx, accountID int64) (int64, error) {
	var m int64
	err := tx.QueryRowContext(ctx, `UPDATE accounts SET modseq = modseq + 1 WHERE id = ? RETURNING modseq`, accountID).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoAccount
	}
	return m, err
}

// likePrefix escapes s for a LIKE pattern matching names that start with s.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}
