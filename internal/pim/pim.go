// Package pim owns the address books and calendars of accounts: the address books with their
// contacts (each vCard as received) and the calendars with their objects (each iCalendar
// object as received), the fields indexed for listing and for range queries, and importing
// files (.vcf, .ics) and resources fetched from CardDAV and CalDAV servers, idempotently by
// UID. Every account gets an address book "Contacts" and a calendar "Calendar" on first use;
// its collections go with it when it is removed (ON DELETE CASCADE).
//
// It must not decide who may see an account: it asks the directory (GetAccount) with the
// actor in the context, and it never rewrites the text of a contact or an event. An import
// that adds or changes something is recorded in the audit log, as that actor, in the
// transaction that stores it.
package pim

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/postamail/posta/internal/contentline"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/ical"
	"github.com/postamail/posta/internal/vcard"
)

// Default collections, made on first use.
const (
	DefaultBook     = "Contacts"
	DefaultCalendar = "Calendar"
)

// MaxImportBytes bounds what one import reads (a file, or all the resources of a DAV
// collection).
const MaxImportBytes = 32 << 20

// Accounts finds an account for the actor in the context, or refuses (directory.Service).
type Accounts interface {
	GetAccount(ctx context.Context, idOrAddress string) (*directory.Account, error)
}

// Service stores address books and calendars.
type Service struct {
	db  *db.DB
	dir Accounts
	now func() time.Time
}

// New returns the service.
func New(d *db.DB, dir Accounts) *Service { return &Service{db: d, dir: dir, now: time.Now} }

// AddressBook is an account's address book.
type AddressBook struct {
	Name     string `json:"name"`
	CTag     int64  `json:"ctag"`
	Contacts int    `json:"contacts"`
	Size     int64  `json:"size"`
}

// Contact is a contact as listed.
type Contact struct {
	Book      string   `json:"book"`
	UID       string   `json:"uid"`
	ETag      string   `json:"etag"`
	FullName  string   `json:"full_name"`
	Emails    []string `json:"emails"`
	Phones    []string `json:"phones"`
	Org       string   `json:"org,omitempty"`
	Size      int64    `json:"size"`
	UpdatedAt int64    `json:"updated_at"`
}

// Calendar is an account's calendar.
type Calendar struct {
	Name    string `json:"name"`
	Color   string `json:"color,omitempty"`
	CTag    int64  `json:"ctag"`
	Objects int    `json:"objects"`
	Size    int64  `json:"size"`
}

// CalendarObject is an event or a task as listed.
type CalendarObject struct {
	Calendar  string     `json:"calendar"`
	UID       string     `json:"uid"`
	ETag      string     `json:"etag"`
	Component string     `json:"component"`
	Summary   string     `json:"summary"`
	Start     *time.Time `json:"start,omitempty"`
	End       *time.Time `json:"end,omitempty"` // none: no end, or a recurrence without one
	AllDay    bool       `json:"all_day"`
	Recurring bool       `json:"recurring"`
	Size      int64      `json:"size"`
	UpdatedAt int64      `json:"updated_at"`
}

// Source is one input of an import: a file, or a resource of a DAV collection.
type Source struct {
	Name string
	Data []byte
}

// origin says where an import comes from, for the audit log: "file" (with the number of
// files), or "carddav" or "caldav" with the collection's URL without credentials or query.
type origin struct {
	kind   string
	server string
}

func fromFiles() origin { return origin{kind: "file"} }

// ItemError is an object an import skipped, with why.
type ItemError struct {
	Source string `json:"source,omitempty"`
	Line   int    `json:"line,omitempty"`
	Error  string `json:"error"`
}

func (e ItemError) String() string {
	if e.Source != "" {
		return e.Source + ": " + e.Error
	}
	return e.Error
}

// Result says what an import did.
type Result struct {
	Collection string      `json:"collection"`
	Imported   int         `json:"imported"` // new objects
	Updated    int         `json:"updated"`  // objects of a known UID whose text changed
	Skipped    int         `json:"skipped"`  // objects already stored as they are
	Errors     []ItemError `json:"errors"`   // objects not imported

	kind kind
}

// Failed returns the refusal of an import that found nothing valid, else nil.
func (r *Result) Failed() error {
	if r.Imported+r.Updated+r.Skipped > 0 || len(r.Errors) == 0 {
		return nil
	}
	kind, what := r.kind.problem, r.kind.item
	msgs := make([]string, 0, 3)
	for i, e := range r.Errors {
		if i == 3 {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(r.Errors)-3))
			break
		}
		msgs = append(msgs, e.String())
	}
	return &directory.Error{Kind: kind, Field: "file", Msg: fmt.Sprintf("no valid %s: %s", what, strings.Join(msgs, "; "))}
}

// checkName refuses names of collections that are empty, long or hold control characters.
func checkName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.ContainsAny(name, "/\\") {
		return "", &directory.Error{Kind: "invalid-argument", Field: field, Msg: fmt.Sprintf("%s name must be 1 to 100 characters without control characters or slashes, got %q", field, name)}
	}
	return name, nil
}

func etag(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:16])
}

// item is one object to store.
type item struct {
	uid, etag string
	index     func(ctx context.Context, tx *db.Tx, collection int64, now int64, update bool) error
}

// kind describes the tables of one kind of collection.
type kind struct {
	collections, objects, fk, field, def string
	problem, item                        string // the refusal of an import without any valid object
	action                               string // an import's action in the audit log
}

var (
	books     = kind{collections: "address_books", objects: "contacts", fk: "book_id", field: "book", def: DefaultBook, problem: "invalid-vcard", item: "contact", action: "contacts.import"}
	calendars = kind{collections: "calendars", objects: "calendar_objects", fk: "calendar_id", field: "calendar", def: DefaultCalendar, problem: "invalid-icalendar", item: "event or task", action: "calendar.import"}
)

// ImportContacts stores the cards of the sources in the account's address book (made when
// missing; "" is the default one). A card whose UID is stored already replaces it when its
// text differs, and is skipped when it does not. Cards that are not valid are listed in the
// result with their line; the others are imported all the same.
func (s *Service) ImportContacts(ctx context.Context, account, book string, srcs ...Source) (*Result, error) {
	return s.importContacts(ctx, account, book, fromFiles(), srcs)
}

func (s *Service) importContacts(ctx context.Context, account, book string, from origin, srcs []Source) (*Result, error) {
	acc, err := s.dir.GetAccount(ctx, account) // before reading anything the actor sent
	if err != nil {
		return nil, err
	}
	var items []item
	var errs []ItemError
	for _, src := range srcs {
		cards, perrs := vcard.Parse(src.Data)
		errs = append(errs, itemErrors(src.Name, perrs)...)
		for _, c := range cards {
			items = append(items, contactItem(c))
		}
	}
	return s.store(ctx, books, acc, book, from, len(srcs), items, errs)
}

func contactItem(c *vcard.Card) item {
	text, tag := string(c.Raw), etag(c.Raw)
	return item{uid: c.UID, etag: tag, index: func(ctx context.Context, tx *db.Tx, book, now int64, update bool) error {
		args := []any{tag, text, int64(len(text)), c.FullName, strings.Join(c.Emails, "\n"), strings.Join(c.Phones, "\n"), c.Org, now, book, c.UID}
		q := `UPDATE contacts SET etag = ?, vcard = ?, size = ?, full_name = ?, emails = ?, phones = ?, org = ?, updated_at = ? WHERE book_id = ? AND uid = ?`
		if !update { // an upsert: another import may have added the UID since it was looked up
			q = `INSERT INTO contacts (etag, vcard, size, full_name, emails, phones, org, updated_at, book_id, uid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (book_id, uid) DO UPDATE SET etag = excluded.etag, vcard = excluded.vcard, size = excluded.size, full_name = excluded.full_name,
				emails = excluded.emails, phones = excluded.phones, org = excluded.org, updated_at = excluded.updated_at`
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}}
}

// ImportCalendar stores the events and tasks of the sources in the account's calendar (made
// when missing; "" is the default one), one object per UID, idempotently as ImportContacts.
func (s *Service) ImportCalendar(ctx context.Context, account, calendar string, srcs ...Source) (*Result, error) {
	return s.importCalendar(ctx, account, calendar, fromFiles(), srcs)
}

func (s *Service) importCalendar(ctx context.Context, account, calendar string, from origin, srcs []Source) (*Result, error) {
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	var items []item
	var errs []ItemError
	for _, src := range srcs {
		objs, perrs := ical.Parse(src.Data)
		errs = append(errs, itemErrors(src.Name, perrs)...)
		for _, o := range objs {
			items = append(items, calendarItem(o))
		}
	}
	return s.store(ctx, calendars, acc, calendar, from, len(srcs), items, errs)
}

func calendarItem(o *ical.Object) item {
	text := string(o.Raw)
	ms := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UnixMilli()
	}
	tag := etag(o.Raw)
	return item{uid: o.UID, etag: tag, index: func(ctx context.Context, tx *db.Tx, cal, now int64, update bool) error {
		args := []any{tag, text, int64(len(text)), o.Component, ms(o.Start), ms(o.End), o.AllDay, o.Recurring, o.Summary, now, cal, o.UID}
		q := `UPDATE calendar_objects SET etag = ?, ical = ?, size = ?, component = ?, dtstart = ?, dtend = ?, all_day = ?, recurring = ?, summary = ?, updated_at = ?
			WHERE calendar_id = ? AND uid = ?`
		if !update { // an upsert: another import may have added the UID since it was looked up
			q = `INSERT INTO calendar_objects (etag, ical, size, component, dtstart, dtend, all_day, recurring, summary, updated_at, calendar_id, uid)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (calendar_id, uid) DO UPDATE SET etag = excluded.etag, ical = excluded.ical, size = excluded.size, component = excluded.component,
				dtstart = excluded.dtstart, dtend = excluded.dtend, all_day = excluded.all_day, recurring = excluded.recurring, summary = excluded.summary,
				updated_at = excluded.updated_at`
		}
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}}
}

func itemErrors(source string, errs []error) []ItemError {
	out := make([]ItemError, 0, len(errs))
	for _, err := range errs {
		e := ItemError{Source: source, Error: err.Error()}
		var le *contentline.Error
		if errors.As(err, &le) {
			e.Line = le.Line
		}
		out = append(out, e)
	}
	return out
}

// store writes the items into the account's collection in one transaction, with an audit
// entry (as the actor in ctx, under the account's tenant) when it changed anything: where the
// objects came from and how many were new, updated, unchanged and refused, never their text.
func (s *Service) store(ctx context.Context, k kind, acc *directory.Account, name string, from origin, sources int, items []item, errs []ItemError) (*Result, error) {
	if name == "" {
		name = k.def
	}
	name, err := checkName(k.field, name)
	if err != nil {
		return nil, err
	}
	res := &Result{Collection: name, Errors: errs, kind: k}
	if res.Errors == nil {
		res.Errors = []ItemError{}
	}
	if len(items) == 0 {
		return res, res.Failed()
	}
	now := s.now().UnixMilli()
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		res.Imported, res.Updated, res.Skipped = 0, 0, 0
		id, err := ensure(ctx, tx, k, acc.ID, name, now)
		if err != nil {
			return err
		}
		stored := map[string]string{}
		rows, err := tx.QueryContext(ctx, `SELECT uid, etag FROM `+k.objects+` WHERE `+k.fk+` = ?`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var uid, tag string
			if err := rows.Scan(&uid, &tag); err != nil {
				rows.Close()
				return err
			}
			stored[uid] = tag
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, it := range items {
			old, known := stored[it.uid]
			switch {
			case known && old == it.etag:
				res.Skipped++
				continue
			case known:
				res.Updated++
			default:
				res.Imported++
			}
			if err := it.index(ctx, tx, id, now, known); err != nil {
				return fmt.Errorf("pim: store %s: %w", it.uid, err)
			}
			stored[it.uid] = it.etag
		}
		if res.Imported+res.Updated == 0 {
			return nil // nothing changed: nothing to record
		}
		if _, err := tx.ExecContext(ctx, `UPDATE `+k.collections+` SET ctag = ctag + 1 WHERE id = ?`, id); err != nil {
			return err
		}
		after := map[string]any{k.field: name, "source": from.kind, "imported": res.Imported, "updated": res.Updated, "skipped": res.Skipped, "errors": len(res.Errors)}
		if from.server != "" {
			after["server"] = from.server
		} else {
			after["files"] = sources
		}
		return directory.WriteAudit(ctx, tx, acc.TenantID, k.action, acc.Address, nil, after)
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// ensure returns the id of the account's collection of the name, making it when missing.
func ensure(ctx context.Context, tx *db.Tx, k kind, accountID int64, name string, now int64) (int64, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+k.collections+` (account_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (account_id, name) DO NOTHING`, accountID, name, now); err != nil {
		return 0, err
	}
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM `+k.collections+` WHERE account_id = ? AND name = ?`, accountID, name).Scan(&id)
	return id, err
}

// ensureDefault makes the account's default collection of the kind when it is missing.
func (s *Service) ensureDefault(ctx context.Context, k kind, accountID int64) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+k.collections+` WHERE account_id = ? AND name = ?`, accountID, k.def).Scan(&n); err != nil || n > 0 {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		_, err := ensure(ctx, tx, k, accountID, k.def, s.now().UnixMilli())
		return err
	})
}

// AddressBooks lists the account's address books (the default one is made on first use).
func (s *Service) AddressBooks(ctx context.Context, account string) ([]AddressBook, error) {
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	if err := s.ensureDefault(ctx, books, acc.ID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT b.name, b.ctag, COUNT(c.id), COALESCE(SUM(c.size), 0) FROM address_books b
		LEFT JOIN contacts c ON c.book_id = b.id WHERE b.account_id = ? GROUP BY b.id, b.name, b.ctag ORDER BY b.name`, acc.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AddressBook{}
	for rows.Next() {
		var b AddressBook
		if err := rows.Scan(&b.Name, &b.CTag, &b.Contacts, &b.Size); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Calendars lists the account's calendars (the default one is made on first use).
func (s *Service) Calendars(ctx context.Context, account string) ([]Calendar, error) {
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	if err := s.ensureDefault(ctx, calendars, acc.ID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT c.name, c.color, c.ctag, COUNT(o.id), COALESCE(SUM(o.size), 0) FROM calendars c
		LEFT JOIN calendar_objects o ON o.calendar_id = c.id WHERE c.account_id = ? GROUP BY c.id, c.name, c.color, c.ctag ORDER BY c.name`, acc.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Calendar{}
	for rows.Next() {
		var c Calendar
		if err := rows.Scan(&c.Name, &c.Color, &c.CTag, &c.Objects, &c.Size); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ContactFilter selects contacts.
type ContactFilter struct {
	Book  string // "": every address book
	Text  string // part of the name, an e-mail address, a phone number or the organisation
	Limit int    // default 500, at most 5000
}

// Contacts lists the account's contacts by name.
func (s *Service) Contacts(ctx context.Context, account string, f ContactFilter) ([]Contact, error) {
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	q := `SELECT b.name, c.uid, c.etag, c.full_name, c.emails, c.phones, c.org, c.size, c.updated_at
		FROM contacts c JOIN address_books b ON b.id = c.book_id WHERE b.account_id = ?`
	args := []any{acc.ID}
	if f.Book != "" {
		q += ` AND b.name = ?`
		args = append(args, f.Book)
	}
	if t := strings.ToLower(strings.TrimSpace(f.Text)); t != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(t) + "%"
		q += ` AND (LOWER(c.full_name) LIKE ? ESCAPE '\' OR c.emails LIKE ? ESCAPE '\' OR c.phones LIKE ? ESCAPE '\' OR LOWER(c.org) LIKE ? ESCAPE '\')`
		args = append(args, like, like, like, like)
	}
	q += ` ORDER BY LOWER(c.full_name), c.uid LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Contact{}
	for rows.Next() {
		var c Contact
		var emails, phones string
		if err := rows.Scan(&c.Book, &c.UID, &c.ETag, &c.FullName, &emails, &phones, &c.Org, &c.Size, &c.UpdatedAt); err != nil {
			return nil, err
		}
		c.Emails, c.Phones = lines(emails), lines(phones)
		out = append(out, c)
	}
	return out, rows.Err()
}

func limit(n int) int {
	switch {
	case n <= 0:
		return 500
	case n > 5000:
		return 5000
	}
	return n
}

func lines(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// ObjectFilter selects calendar objects.
type ObjectFilter struct {
	Calendar string    // "": every calendar
	From, To time.Time // objects overlapping [From, To); zero: unbounded
	Limit    int       // default 500, at most 5000
}

// ParseBound reads a bound of an ObjectFilter range as people and programs write it: a date
// (2026-12-01, midnight UTC) or an RFC 3339 time; "" is no bound. ok is false for anything else.
func ParseBound(v string) (t time.Time, ok bool) {
	if v == "" {
		return time.Time{}, true
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

// CalendarObjects lists the account's events and tasks by start. With a range, an object is
// listed when it overlaps the range; a recurring one from its first start to the end of its
// last occurrence (to forever without an UNTIL); objects without dates only without a range.
func (s *Service) CalendarObjects(ctx context.Context, account string, f ObjectFilter) ([]CalendarObject, error) {
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "to", Msg: "the end of the range must come after its start"}
	}
	q := `SELECT c.name, o.uid, o.etag, o.component, o.summary, o.dtstart, o.dtend, o.all_day, o.recurring, o.size, o.updated_at
		FROM calendar_objects o JOIN calendars c ON c.id = o.calendar_id WHERE c.account_id = ?`
	args := []any{acc.ID}
	if f.Calendar != "" {
		q += ` AND c.name = ?`
		args = append(args, f.Calendar)
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		from, to := int64(math.MinInt64), int64(math.MaxInt64)
		if !f.From.IsZero() {
			from = f.From.UnixMilli()
		}
		if !f.To.IsZero() {
			to = f.To.UnixMilli()
		}
		q += ` AND o.dtstart IS NOT NULL AND o.dtstart < ? AND (o.dtend IS NULL OR o.dtend > ? OR (o.dtend = o.dtstart AND o.dtstart >= ?))`
		args = append(args, to, from, from)
	}
	q += ` ORDER BY COALESCE(o.dtstart, 0), o.uid LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []CalendarObject{}
	for rows.Next() {
		var o CalendarObject
		var start, end sql.NullInt64
		if err := rows.Scan(&o.Calendar, &o.UID, &o.ETag, &o.Component, &o.Summary, &start, &end, &o.AllDay, &o.Recurring, &o.Size, &o.UpdatedAt); err != nil {
			return nil, err
		}
		if start.Valid {
			t := time.UnixMilli(start.Int64).UTC()
			o.Start = &t
		}
		if end.Valid {
			t := time.UnixMilli(end.Int64).UTC()
			o.End = &t
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ContactText returns the stored vCard of a contact, as it was received.
func (s *Service) ContactText(ctx context.Context, account, book, uid string) ([]byte, error) {
	return s.text(ctx, books, "vcard", account, book, uid)
}

// CalendarObjectText returns the stored iCalendar text of an object, as it was received.
func (s *Service) CalendarObjectText(ctx context.Context, account, calendar, uid string) ([]byte, error) {
	return s.text(ctx, calendars, "ical", account, calendar, uid)
}

func (s *Service) text(ctx context.Context, k kind, column, account, name, uid string) ([]byte, error) {
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = k.def
	}
	var text string
	err = s.db.QueryRowContext(ctx, `SELECT o.`+column+` FROM `+k.objects+` o JOIN `+k.collections+` c ON c.id = o.`+k.fk+`
		WHERE c.account_id = ? AND c.name = ? AND o.uid = ?`, acc.ID, name, uid).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &directory.Error{Kind: "not-found", Msg: fmt.Sprintf("no %s with UID %q in %q", k.field+" entry", uid, name)}
	}
	return []byte(text), err
}

// ExportContacts returns an address book as a .vcf file: every card as it was received, in the
// order they were first imported. Importing a file of valid cards and exporting the book gives
// the file back, byte for byte.
func (s *Service) ExportContacts(ctx context.Context, account, book string) ([]byte, error) {
	return s.export(ctx, books, "vcard", account, book)
}

// ExportCalendar returns a calendar as an .ics stream: each object's VCALENDAR as it was
// received, one after another (RFC 5545 §3.4 allows several in one stream).
func (s *Service) ExportCalendar(ctx context.Context, account, calendar string) ([]byte, error) {
	return s.export(ctx, calendars, "ical", account, calendar)
}

func (s *Service) export(ctx context.Context, k kind, column, account, name string) ([]byte, error) {
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = k.def
	}
	var id int64
	err = s.db.QueryRowContext(ctx, `SELECT id FROM `+k.collections+` WHERE account_id = ? AND name = ?`, acc.ID, name).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows) && name == k.def:
		return []byte{}, nil // not made yet: empty
	case errors.Is(err, sql.ErrNoRows):
		return nil, &directory.Error{Kind: "not-found", Field: k.field, Msg: fmt.Sprintf("no %s %q", k.field, name)}
	case err != nil:
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+column+` FROM `+k.objects+` WHERE `+k.fk+` = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []byte{}
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			return nil, err
		}
		out = append(out, text...)
		if !strings.HasSuffix(text, "\n") {
			out = append(out, '\r', '\n') // the last object of a file without a final line break
		}
	}
	return out, rows.Err()
}
