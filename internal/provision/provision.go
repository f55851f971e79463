// Package provision owns bulk provisioning from a spreadsheet (PRODUCT D2, D3): the template a
// customer fills (XLSX or CSV, with a second sheet naming the tenant's domains and classes of
// service), reading such a file safely (XLSX through excelize, CSV in UTF-8 with "," or ";",
// Windows-1252 converted, formulas, dates and oversized files refused with the row and column
// named), validating every row against the tenant's directory before anything is written, the
// dry-run diff, applying the file in one directory transaction (or only its valid rows),
// the report with the passwords it generated, the export of a tenant's directory in the same
// format, and the welcome message with the client settings.
//
// It holds no directory rule of its own beyond reading the file: it validates with the
// directory's state and rules (directory.TenantState, CheckPasswordPolicy) so that the dry run
// tells what the directory will do, and it writes only through directory.ApplyBatch, which
// checks everything again inside its transaction. The CLI, the JSON API and the console call it
// with the actor in the context.
package provision

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/postamail/posta/internal/autoconfig"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
)

// Limits of one file.
const (
	// MaxRows is the most accounts one file may hold; larger imports are split.
	MaxRows = 20000
	// MaxFileBytes is the largest file accepted.
	MaxFileBytes = 32 << 20
	// MaxAliasesPerRow and MaxListsPerRow bound one row's aliases and lists.
	MaxAliasesPerRow = 100
	MaxListsPerRow   = 50
	// maxCellChars bounds a cell (Excel's own limit is 32 767).
	maxCellChars = 8000
)

// Sender delivers a message (the deliverer: *deliver.Deliverer).
type Sender interface {
	Deliver(ctx context.Context, env *deliver.Envelope) ([]error, error)
}

// Options configure the service.
type Options struct {
	// Sender delivers welcome messages; nil: welcome messages cannot be sent.
	Sender Sender
	// Client are the settings the welcome message shows.
	Client autoconfig.Settings
	// Logger receives failures; default slog.Default().
	Logger *slog.Logger
}

// Service provisions accounts from spreadsheets.
type Service struct {
	dir  *directory.Service
	opts Options
	log  *slog.Logger
}

// New returns the service over the directory.
func New(dir *directory.Service, opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{dir: dir, opts: opts, log: opts.Logger}
}

// CanWelcome reports whether welcome messages can be sent.
func (s *Service) CanWelcome() bool { return s.opts.Sender != nil }

// Format is a spreadsheet format.
type Format string

const (
	XLSX Format = "xlsx"
	CSV  Format = "csv"
)

// ParseFormat reads a format name ("" is XLSX).
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "xlsx", "XLSX":
		return XLSX, nil
	case "csv", "CSV":
		return CSV, nil
	}
	return "", &directory.Error{Kind: "invalid-argument", Field: "format", Msg: `format must be "xlsx" or "csv", got "` + s + `"`}
}

// ContentType is the media type of a format.
func (f Format) ContentType() string {
	if f == CSV {
		return "text/csv; charset=utf-8"
	}
	return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
}

// Column is a column of the spreadsheet.
type Column int

const (
	ColAddress Column = iota
	ColPassword
	ColDisplayName
	ColCOS
	ColAliases
	ColLists
	ColForwarding
	ColStatus
	ColLanguage
	numColumns
)

// columnInfo names a column in English and Italian (the template's headers) and lists the
// other spellings a header may use.
var columnInfo = [numColumns]struct {
	key, en, it string
	other       []string
}{
	ColAddress:     {"address", "address", "indirizzo", []string{"email", "e-mail", "emailaddress", "account", "mail", "casella", "indirizzoemail"}},
	ColPassword:    {"password", "password", "password", []string{"pwd", "parola chiave"}},
	ColDisplayName: {"display_name", "display name", "nome visualizzato", []string{"name", "nome", "full name", "nome e cognome", "displayname"}},
	ColCOS:         {"cos", "COS", "COS", []string{"class of service", "classe di servizio", "service", "servizio", "piano"}},
	ColAliases:     {"aliases", "aliases", "alias", []string{"alias"}},
	ColLists:       {"lists", "distribution lists", "liste di distribuzione", []string{"lists", "liste", "list", "lista", "distribution list"}},
	ColForwarding:  {"forwarding", "forwarding", "inoltro", []string{"forward", "forward to", "inoltra a"}},
	ColStatus:      {"status", "status", "stato", nil},
	ColLanguage:    {"language", "language", "lingua", []string{"lang"}},
}

// Key is the column's stable name (in JSON and errors).
func (c Column) Key() string { return columnInfo[c].key }

// Header is the column's header in lang ("it" or English).
func (c Column) Header(lang string) string {
	if lang == "it" {
		return columnInfo[c].it
	}
	return columnInfo[c].en
}

// Problem is why a row (or the file) cannot be applied.
type Problem struct {
	Row    int    `json:"row,omitempty"`
	Column string `json:"column,omitempty"` // the column's key
	Cell   string `json:"cell,omitempty"`   // e.g. "F7"
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

func (p Problem) String() string {
	where := ""
	switch {
	case p.Cell != "":
		where = "cell " + p.Cell + " (" + p.Column + "): "
	case p.Column != "":
		where = p.Column + ": "
	}
	return where + p.Reason
}

// fileError is a refusal of the whole file.
func fileError(format string, args ...any) error {
	return &directory.Error{Kind: "invalid-spreadsheet", Field: "file", Msg: fmt.Sprintf(format, args...)}
}
