// Package billing owns pay-per-use billing in points (PRODUCT C2–C6): the price list (the daily
// price of each class of service, in force from a date), the wallet and append-only ledger of
// each tenant (recharges, daily charges, adjustments, refunds, each with who, when, why and a
// reference), the daily charge run, the warnings to the tenant's contact when credit runs low,
// the credit gate that refuses new accounts and upgrades once the grace period after reaching
// zero is over, recharges from the provider or a signed payment webhook, and the consumption
// reports (by day, by class of service, by account, monthly statement, CSV).
//
// # Money
//
// There is no floating point anywhere. Amounts are integer milli-points (1 point = 1000
// milli-points), shown as decimal strings with up to three decimals. A recharge in euro is
// parsed exactly into cents and converted at the rate in force (default 80 points per euro),
// which is recorded with the recharge. Prices are milli-points per day; a price change is a
// new row of the price list in force from a day that has not begun to be charged (today or
// later), so the past is never rewritten.
//
// # Days and the charge rule
//
// Days are UTC days. A day is charged once it is over, by the charge run, from the history of
// classes of service the directory keeps (account_cos_history: which class each account had
// from when to when). The rule is a setting, charge_mode:
//
//   - "whole-day" (default): an account is charged the full daily price of a class of service
//     if it had that class at any moment of the day (an account moved from A to B during the
//     day pays for both; one created or closed during the day pays the day).
//   - "pro-rata": an account pays each class for the time it had it that day; per class and
//     day the charge is floor(price × active milliseconds / 86 400 000).
//
// A change of the rule applies to the days charged after it. Each charge keeps its lines
// (per class: accounts, active time, price, amount, rule).
//
// # Charge run
//
// For each tenant, every day after the last one settled up to the day asked (default
// yesterday) is settled in its own transaction: pay-per-use tenants are charged, subscription
// tenants are passed over (they are not charged but get the same usage reports). A database
// constraint (UNIQUE tenant_id, charge_day) makes a second charge of a tenant-day impossible;
// the wallet's charged_through is advanced with a compare-and-set, so running twice, out of
// order or on several nodes at once charges each day once. A lease row lets one node run at a
// time. A server that was down three days charges the three days at its next run. posta
// serve runs it every hour; "posta billing run --date" on demand.
//
// # Warnings and limits
//
// After a charge the tenant's contact gets an e-mail when the balance covers fewer than
// warn_days days (default 15) at the current daily burn, again below warn_days/3, and when the
// balance reaches zero: each once per crossing (a recharge re-arms them). From the day the
// balance reaches zero a grace period runs (grace_days, default 7); after it the directory's
// credit gate refuses new accounts, re-opened accounts and moves to a dearer class of service
// with the refusal "insufficient-credit". With the suspend_sending setting, the submission
// server also refuses the tenant's senders after the grace period (SendingSuspended); nothing
// is ever deleted for lack of credit.
//
// # Authorisation
//
// Every call takes the actor from the context as the directory does: the provider (and the
// operator's CLI) may do everything; a tenant administrator may read its own tenant's wallet,
// ledger, usage and statements and the price list; nobody else may do anything. Tenants are
// looked up through directory.GetTenant, which hides other tenants.
//
// It must not change directory rules except through the credit gate.
package billing

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// Options configure the service.
type Options struct {
	// Hostname is the mail server's name, for the sender of the warnings.
	Hostname string
	// Notify delivers a warning message (raw RFC 5322) to an address, from the null sender.
	// Nil: warnings are only logged.
	Notify func(ctx context.Context, to string, raw []byte) error
	// Clock returns the current time (tests); default time.Now.
	Clock func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Node names this node in the charge-run lease; default host name, pid and a random suffix.
	Node string
}

// Service is the billing service.
type Service struct {
	db   *db.DB
	dir  *directory.Service
	opts Options
	log  *slog.Logger
	gate *Gate
}

// New returns the billing service over d, using dir for tenants and authorisation.
func New(d *db.DB, dir *directory.Service, opts Options) *Service {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Hostname == "" {
		opts.Hostname = "localhost"
	}
	if opts.Node == "" {
		h, _ := os.Hostname()
		b := make([]byte, 4)
		rand.Read(b)
		opts.Node = fmt.Sprintf("%s:%d:%s", h, os.Getpid(), hex.EncodeToString(b))
	}
	return &Service{db: d, dir: dir, opts: opts, log: opts.Logger, gate: NewGate(d, opts.Clock)}
}

func (s *Service) now() time.Time { return s.opts.Clock() }
func (s *Service) today() Day     { return DayOf(s.now()) }

// Refusals specific to billing (directory.Error, so that the API and the console show them like
// every other rule).
var (
	ErrInsufficientCredit = directory.ErrInsufficientCredit
	ErrDuplicateReference = &directory.Error{Kind: "duplicate-reference"}
	ErrInvalidSignature   = &directory.Error{Kind: "invalid-signature"}
	ErrRunBusy            = &directory.Error{Kind: "charge-run-busy"}
)

func refuse(kind, field, format string, args ...any) error {
	return &directory.Error{Kind: kind, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) error {
	return refuse("invalid-argument", field, format, args...)
}

func forbidden(format string, args ...any) error {
	return refuse("forbidden", "", format, args...)
}

// requireProvider allows the provider's administrators and the operator's CLI.
func requireProvider(ctx context.Context) (directory.Actor, error) {
	if err := directory.RequireProvider(ctx); err != nil {
		return directory.Actor{}, err
	}
	a, _ := directory.ActorFrom(ctx)
	return a, nil
}

// requireReader allows the provider and tenant administrators (each then limited to what
// directory.GetTenant shows it).
func requireReader(ctx context.Context) (directory.Actor, error) {
	a, ok := directory.ActorFrom(ctx)
	if !ok {
		return a, directory.ErrForbidden
	}
	switch a.Role {
	case directory.RoleSystem, directory.RoleProvider, directory.RoleTenantAdmin:
		return a, nil
	}
	return a, forbidden("only the provider and the tenant's administrators may see its credit and consumption")
}

// readTenant returns the tenant the actor asks about, if it may read its billing.
func (s *Service) readTenant(ctx context.Context, tenant string) (*directory.Tenant, error) {
	if _, err := requireReader(ctx); err != nil {
		return nil, err
	}
	return s.dir.GetTenant(ctx, tenant)
}

func actorName(a directory.Actor) string {
	if a.Name != "" {
		return a.Name
	}
	return string(a.Role)
}

// Settings are the installation-wide billing settings, kept in the database (settings table,
// keys "billing.*") so that every node uses the same.
type Settings struct {
	PointsPerEUR   int64  `json:"points_per_eur"`
	WarnDays       int64  `json:"warn_days"`
	GraceDays      int64  `json:"grace_days"`
	ChargeMode     string `json:"charge_mode"`
	SuspendSending bool   `json:"suspend_sending"`
	// WebhookConfigured tells whether a webhook secret is set (the secret is never shown).
	WebhookConfigured bool `json:"webhook_configured"`
}

// Charge modes.
const (
	ModeWholeDay = "whole-day"
	ModeProRata  = "pro-rata"
)

// DefaultSettings are the settings of a new installation.
var DefaultSettings = Settings{PointsPerEUR: 80, WarnDays: 15, GraceDays: 7, ChargeMode: ModeWholeDay}

// SettingKeys are the settings that SetSetting accepts.
var SettingKeys = []string{"points_per_eur", "warn_days", "grace_days", "charge_mode", "suspend_sending"}

const settingPrefix = "billing."

func loadSettings(ctx context.Context, q db.Querier) (Settings, string, error) {
	st := DefaultSettings
	secret := ""
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM settings WHERE key LIKE 'billing.%'`)
	if err != nil {
		return st, "", err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return st, "", err
		}
		switch strings.TrimPrefix(k, settingPrefix) {
		case "points_per_eur":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				st.PointsPerEUR = n
			}
		case "warn_days":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				st.WarnDays = n
			}
		case "grace_days":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				st.GraceDays = n
			}
		case "charge_mode":
			if v == ModeWholeDay || v == ModeProRata {
				st.ChargeMode = v
			}
		case "suspend_sending":
			st.SuspendSending = v == "true"
		case "webhook_secret":
			secret = v
		}
	}
	st.WebhookConfigured = secret != ""
	return st, secret, rows.Err()
}

// Settings returns the billing settings (provider only).
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	if _, err := requireProvider(ctx); err != nil {
		return Settings{}, err
	}
	st, _, err := loadSettings(ctx, s.db)
	return st, err
}

// SetSetting changes one setting (provider only): points_per_eur (whole points per euro, 1 to
// 100000), warn_days (0 to 365), grace_days (0 to 365), charge_mode (whole-day or pro-rata),
// suspend_sending (true or false). The change is audited in the ledger's sense: it applies to
// what happens next (rates to later recharges, the rule to days not yet charged).
func (s *Service) SetSetting(ctx context.Context, key, value string) (Settings, error) {
	a, err := requireProvider(ctx)
	if err != nil {
		return Settings{}, err
	}
	value = strings.TrimSpace(value)
	switch key {
	case "points_per_eur":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 1 || n > 100000 {
			return Settings{}, invalid(key, "points per euro must be a whole number from 1 to 100000, got %q", value)
		}
	case "warn_days", "grace_days":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 || n > 365 {
			return Settings{}, invalid(key, "%s must be a whole number of days from 0 to 365, got %q", key, value)
		}
	case "charge_mode":
		if value != ModeWholeDay && value != ModeProRata {
			return Settings{}, invalid(key, `charge mode must be %q or %q, got %q`, ModeWholeDay, ModeProRata, value)
		}
	case "suspend_sending":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return Settings{}, invalid(key, "suspend_sending must be true or false, got %q", value)
		}
		value = strconv.FormatBool(b)
	default:
		return Settings{}, invalid("key", "unknown billing setting %q (%s)", key, strings.Join(SettingKeys, ", "))
	}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		before, err := settingJSON(ctx, tx, key)
		if err != nil {
			return err
		}
		if err := putSetting(ctx, tx, key, value); err != nil {
			return err
		}
		after, err := settingJSON(ctx, tx, key)
		if err != nil {
			return err
		}
		return directory.AuditAs(ctx, tx, a, 0, "billing.setting", key, before, after)
	})
	if err != nil {
		return Settings{}, err
	}
	st, _, err := loadSettings(ctx, s.db)
	return st, err
}

// settingJSON is the value in force of a billing setting (stored or default), as a JSON object.
func settingJSON(ctx context.Context, tx *db.Tx, key string) (map[string]any, error) {
	st, _, err := loadSettings(ctx, tx)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(st)
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	return map[string]any{key: all[key]}, nil
}

func putSetting(ctx context.Context, tx *db.Tx, key, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		settingPrefix+key, value)
	return err
}

// RotateWebhookSecret sets a new random secret for the payment webhook and returns it (shown
// once; provider only).
func (s *Service) RotateWebhookSecret(ctx context.Context) (string, error) {
	a, err := requireProvider(ctx)
	if err != nil {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(b)
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if err := putSetting(ctx, tx, "webhook_secret", secret); err != nil {
			return err
		}
		// The secret itself is never recorded.
		return directory.AuditAs(ctx, tx, a, 0, "billing.webhook_secret", "webhook", map[string]string{"secret": "previous"}, map[string]string{"secret": "rotated"})
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// tenantRow is what billing needs of a tenant.
type tenantRow struct {
	ID        int64
	Name      string
	Contact   string
	Contract  string
	CreatedAt int64
}

func getTenantRow(ctx context.Context, q db.Querier, id int64) (*tenantRow, error) {
	var t tenantRow
	err := q.QueryRowContext(ctx, `SELECT id, name, contact_email, contract, created_at FROM tenants WHERE id = ?`, id).
		Scan(&t.ID, &t.Name, &t.Contact, &t.Contract, &t.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refuse("not-found", "", "no tenant %d", id)
	}
	return &t, err
}
