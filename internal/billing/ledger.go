package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// Kinds of ledger movement.
const (
	KindRecharge   = "recharge"
	KindCharge     = "charge"
	KindAdjustment = "adjustment"
	KindRefund     = "refund"
)

// Movement is one row of a tenant's ledger. Amount is positive for credit (recharges) and
// negative for debit (charges); BalanceAfter is the sum of the ledger up to and including it.
type Movement struct {
	ID           int64       `json:"id"`
	TenantID     int64       `json:"tenant_id"`
	Seq          int64       `json:"seq"`
	Kind         string      `json:"kind"`
	Amount       MilliPoints `json:"amount"`
	BalanceAfter MilliPoints `json:"balance_after"`
	// Day is the value date: the day charged, or the day a recharge was paid.
	Day          Day    `json:"day"`
	EURCents     int64  `json:"-"`
	EUR          string `json:"eur,omitempty"`
	PointsPerEUR int64  `json:"points_per_eur,omitempty"`
	Reference    string `json:"reference,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Actor        string `json:"actor"`
	Role         string `json:"role"`
	At           int64  `json:"at"`
	// Duplicate is set when a webhook delivered a payment already recorded.
	Duplicate bool `json:"duplicate,omitempty"`
}

const movementCols = `id, tenant_id, seq, kind, amount_mp, balance_after_mp, day, COALESCE(eur_cents, 0), COALESCE(points_per_eur, 0), reference, reason, actor, role, at`

func scanMovement(sc interface{ Scan(...any) error }) (*Movement, error) {
	var m Movement
	err := sc.Scan(&m.ID, &m.TenantID, &m.Seq, &m.Kind, &m.Amount, &m.BalanceAfter, &m.Day, &m.EURCents, &m.PointsPerEUR, &m.Reference, &m.Reason, &m.Actor, &m.Role, &m.At)
	if m.EURCents != 0 {
		m.EUR = FormatEUR(m.EURCents)
	}
	return &m, err
}

// wallet is a tenant's wallet row.
type wallet struct {
	TenantID       int64
	Balance        MilliPoints
	LastSeq        int64
	ChargedThrough Day
	WarnedLevel    int
	Depleted       sql.NullInt64
}

// ensureWallet opens the tenant's wallet if it has none: its first day to settle is the day
// the tenant was created.
func ensureWallet(ctx context.Context, tx *db.Tx, t *tenantRow, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO billing_wallets (tenant_id, charged_through, created_at) VALUES (?, ?, ?) ON CONFLICT (tenant_id) DO NOTHING`,
		t.ID, int64(DayOfMS(t.CreatedAt)-1), now)
	return err
}

// lockWallet reads the wallet, locking its row on PostgreSQL (SQLite has one writer).
func lockWallet(ctx context.Context, tx *db.Tx, tenantID int64) (*wallet, error) {
	q := `SELECT tenant_id, balance_mp, last_seq, charged_through, warned_level, depleted_day FROM billing_wallets WHERE tenant_id = ?`
	if tx.Engine() == db.Postgres {
		q += ` FOR UPDATE`
	}
	return scanWallet(tx.QueryRowContext(ctx, q, tenantID))
}

func scanWallet(row *sql.Row) (*wallet, error) {
	var w wallet
	err := row.Scan(&w.TenantID, &w.Balance, &w.LastSeq, &w.ChargedThrough, &w.WarnedLevel, &w.Depleted)
	return &w, err
}

// readWallet reads a wallet outside a transaction; a tenant without one has an empty wallet.
func readWallet(ctx context.Context, q db.Querier, t *tenantRow) (*wallet, bool, error) {
	w, err := scanWallet(q.QueryRowContext(ctx, `SELECT tenant_id, balance_mp, last_seq, charged_through, warned_level, depleted_day FROM billing_wallets WHERE tenant_id = ?`, t.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return &wallet{TenantID: t.ID, ChargedThrough: DayOfMS(t.CreatedAt) - 1}, false, nil
	}
	return w, err == nil, err
}

// appendMovement writes m as the next row of the wallet's ledger and updates the wallet in the
// same transaction. depletedFrom is the first day without credit should the balance reach zero.
func appendMovement(ctx context.Context, tx *db.Tx, w *wallet, m *Movement, depletedFrom Day) error {
	m.TenantID = w.TenantID
	m.Seq = w.LastSeq + 1
	m.BalanceAfter = w.Balance + m.Amount
	var chargeDay, cents, rate any
	if m.Kind == KindCharge {
		chargeDay = int64(m.Day)
	}
	if m.EURCents != 0 {
		cents, rate = m.EURCents, m.PointsPerEUR
		m.EUR = FormatEUR(m.EURCents)
	}
	id, err := tx.InsertID(ctx, `INSERT INTO billing_ledger (tenant_id, seq, kind, amount_mp, balance_after_mp, day, charge_day, eur_cents, points_per_eur, reference, reason, actor, role, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.TenantID, m.Seq, m.Kind, int64(m.Amount), int64(m.BalanceAfter), int64(m.Day), chargeDay, cents, rate, m.Reference, m.Reason, m.Actor, m.Role, m.At)
	if err != nil {
		if db.IsUniqueViolation(err) && m.Kind == KindRecharge {
			return refuse("duplicate-reference", "reference", "the payment reference %q is already recorded", m.Reference)
		}
		return fmt.Errorf("billing: ledger: %w", err)
	}
	m.ID = id
	depleted := w.Depleted
	switch {
	case m.BalanceAfter > 0:
		depleted = sql.NullInt64{}
	case !depleted.Valid:
		depleted = sql.NullInt64{Int64: int64(depletedFrom), Valid: true}
	}
	var dep any
	if depleted.Valid {
		dep = depleted.Int64
	}
	res, err := tx.ExecContext(ctx, `UPDATE billing_wallets SET balance_mp = ?, last_seq = ?, depleted_day = ? WHERE tenant_id = ? AND last_seq = ?`,
		int64(m.BalanceAfter), m.Seq, dep, w.TenantID, w.LastSeq)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("billing: wallet changed under the transaction")
	}
	w.Balance, w.LastSeq, w.Depleted = m.BalanceAfter, m.Seq, depleted
	return nil
}

// RechargeSpec is a recharge recorded by the provider.
type RechargeSpec struct {
	Tenant    string
	EUR       string // amount in euro, "100" or "99.90"
	Reference string // bank transfer CRO/TRN or payment id; used once
	Date      string // value date YYYY-MM-DD; default today
	Reason    string // optional note
}

func checkReference(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" || len(ref) > 100 {
		return "", invalid("reference", "a recharge needs its payment reference (CRO/TRN), 1 to 100 characters")
	}
	for _, r := range ref {
		if !unicode.IsPrint(r) {
			return "", invalid("reference", "the payment reference contains a control character")
		}
	}
	return ref, nil
}

func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 || strings.ContainsAny(reason, "\r\n") {
		return "", invalid("reason", "a reason is one line of at most 500 characters")
	}
	return reason, nil
}

// Recharge records a payment of a pay-per-use tenant, converted to points at the rate in force
// (provider only).
func (s *Service) Recharge(ctx context.Context, spec RechargeSpec) (*Movement, error) {
	a, err := requireProvider(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.dir.GetTenant(ctx, spec.Tenant)
	if err != nil {
		return nil, err
	}
	m, err := s.recharge(ctx, a, t.ID, spec, false)
	if err != nil {
		return nil, err
	}
	s.afterMovement(ctx, t.ID)
	return m, nil
}

// recharge records a recharge. With idempotent set (the webhook), a reference already recorded
// for the same tenant and amount returns that movement marked Duplicate instead of a refusal.
func (s *Service) recharge(ctx context.Context, a directory.Actor, tenantID int64, spec RechargeSpec, idempotent bool) (*Movement, error) {
	cents, err := ParseEUR(spec.EUR)
	if err != nil || cents <= 0 {
		return nil, invalid("eur", "the amount must be a positive number of euro with at most two decimals, got %q", spec.EUR)
	}
	ref, err := checkReference(spec.Reference)
	if err != nil {
		return nil, err
	}
	reason, err := checkReason(spec.Reason)
	if err != nil {
		return nil, err
	}
	today := s.today()
	day := today
	if spec.Date != "" {
		if day, err = ParseDay(spec.Date); err != nil {
			return nil, err
		}
		if day > today {
			return nil, invalid("date", "a recharge cannot be dated in the future (%s)", day)
		}
	}
	var out *Movement
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		t, err := getTenantRow(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if t.Contract != directory.ContractPayg {
			return invalid("tenant", "%s has a subscription contract: only pay-per-use tenants have a wallet to recharge", t.Name)
		}
		if prev, err := scanMovement(tx.QueryRowContext(ctx, `SELECT `+movementCols+` FROM billing_ledger WHERE kind = 'recharge' AND reference = ?`, ref)); err == nil {
			if idempotent && prev.TenantID == t.ID && prev.EURCents == cents {
				prev.Duplicate = true
				out = prev
				return nil
			}
			return refuse("duplicate-reference", "reference", "the payment reference %q is already recorded (movement %d of %s)", ref, prev.Seq, prev.Day)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		st, _, err := loadSettings(ctx, tx)
		if err != nil {
			return err
		}
		now := s.now().UnixMilli()
		if err := ensureWallet(ctx, tx, t, now); err != nil {
			return err
		}
		w, err := lockWallet(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		m := &Movement{Kind: KindRecharge, Amount: eurToPoints(cents, st.PointsPerEUR), Day: day, EURCents: cents, PointsPerEUR: st.PointsPerEUR,
			Reference: ref, Reason: reason, Actor: actorName(a), Role: string(a.Role), At: now}
		if err := appendMovement(ctx, tx, w, m, today); err != nil {
			return err
		}
		out = m
		return directory.AuditAs(ctx, tx, a, t.ID, "billing.recharge", t.Name, map[string]string{"balance": (m.BalanceAfter - m.Amount).String()},
			map[string]string{"eur": m.EUR, "points": m.Amount.String(), "reference": ref, "balance": m.BalanceAfter.String()})
	})
	return out, err
}

// Adjust records an adjustment or a refund (provider only): amount is signed (positive gives
// points to the tenant), and a reason is required.
func (s *Service) Adjust(ctx context.Context, tenant, kind string, amount MilliPoints, reason, reference string) (*Movement, error) {
	a, err := requireProvider(ctx)
	if err != nil {
		return nil, err
	}
	if kind != KindAdjustment && kind != KindRefund {
		return nil, invalid("kind", `the kind must be %q or %q, got %q`, KindAdjustment, KindRefund, kind)
	}
	if amount == 0 || amount > 1_000_000_000*PerPoint || amount < -1_000_000_000*PerPoint {
		return nil, invalid("points", "the amount must not be zero (and at most a billion points)")
	}
	if reason, err = checkReason(reason); err != nil {
		return nil, err
	}
	if reason == "" {
		return nil, invalid("reason", "an adjustment needs a reason")
	}
	reference = strings.TrimSpace(reference)
	if len(reference) > 100 {
		return nil, invalid("reference", "a reference has at most 100 characters")
	}
	t, err := s.dir.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var out *Movement
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		tr, err := getTenantRow(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		now := s.now().UnixMilli()
		if err := ensureWallet(ctx, tx, tr, now); err != nil {
			return err
		}
		w, err := lockWallet(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		m := &Movement{Kind: kind, Amount: amount, Day: s.today(), Reference: reference, Reason: reason, Actor: actorName(a), Role: string(a.Role), At: now}
		if err := appendMovement(ctx, tx, w, m, s.today()); err != nil {
			return err
		}
		out = m
		return directory.AuditAs(ctx, tx, a, t.ID, "billing."+kind, t.Name, map[string]string{"balance": (m.BalanceAfter - m.Amount).String()},
			map[string]string{"points": amount.String(), "reason": reason, "balance": m.BalanceAfter.String()})
	})
	if err != nil {
		return nil, err
	}
	s.afterMovement(ctx, t.ID)
	return out, nil
}

// afterMovement re-evaluates the warnings after a change of balance (a recharge re-arms them).
func (s *Service) afterMovement(ctx context.Context, tenantID int64) {
	st, _, err := loadSettings(ctx, s.db)
	if err == nil {
		var pb priceBook
		if pb, err = loadPrices(ctx, s.db); err == nil {
			_, err = s.evaluateWarnings(ctx, tenantID, st, pb)
		}
	}
	if err != nil {
		s.log.Warn("billing: warnings", "tenant", tenantID, "err", err)
	}
}

// Ledger returns a tenant's movements with value dates from..to (YYYY-MM-DD, both optional),
// in ledger order.
func (s *Service) Ledger(ctx context.Context, tenant, from, to string) ([]Movement, error) {
	t, err := s.readTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	lo, hi, err := dayRange(from, to, Day(-1<<40), Day(1<<40))
	if err != nil {
		return nil, err
	}
	return listMovements(ctx, s.db, t.ID, lo, hi)
}

func listMovements(ctx context.Context, q db.Querier, tenantID int64, lo, hi Day) ([]Movement, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+movementCols+` FROM billing_ledger WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY seq`, tenantID, int64(lo), int64(hi))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Movement{}
	for rows.Next() {
		m, err := scanMovement(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// dayRange parses an optional from..to pair, with defaults.
func dayRange(from, to string, defFrom, defTo Day) (Day, Day, error) {
	lo, hi := defFrom, defTo
	var err error
	if from != "" {
		if lo, err = ParseDay(from); err != nil {
			return 0, 0, refuse("invalid-argument", "from", "%v", err)
		}
	}
	if to != "" {
		if hi, err = ParseDay(to); err != nil {
			return 0, 0, refuse("invalid-argument", "to", "%v", err)
		}
	}
	if hi < lo {
		return 0, 0, invalid("to", "the period ends (%s) before it starts (%s)", hi, lo)
	}
	return lo, hi, nil
}

// Wallet is a tenant's credit at a glance.
type Wallet struct {
	TenantID int64  `json:"tenant_id"`
	Tenant   string `json:"tenant"`
	Contract string `json:"contract"`
	// Charged is false for subscription tenants: their figures are the value of their
	// services at list price, for information.
	Charged    bool        `json:"charged"`
	Balance    MilliPoints `json:"balance"`
	BalanceEUR string      `json:"balance_eur"`
	// DailyBurn is the price of the services active now, per day.
	DailyBurn MilliPoints `json:"daily_burn"`
	Accounts  int64       `json:"accounts"`
	// DaysRemaining is how many days the balance covers at the daily burn (-1: no burn).
	DaysRemaining  int64  `json:"days_remaining"`
	ChargedThrough *Day   `json:"charged_through,omitempty"`
	WarnLevel      int    `json:"warn_level"`
	WarnState      string `json:"warn_state"`
	DepletedSince  *Day   `json:"depleted_since,omitempty"`
	GraceUntil     *Day   `json:"grace_until,omitempty"`
	// Restricted: the grace period is over; new accounts and upgrades are refused.
	Restricted       bool  `json:"restricted"`
	SendingSuspended bool  `json:"sending_suspended"`
	PointsPerEUR     int64 `json:"points_per_eur"`
	WarnDays         int64 `json:"warn_days"`
	GraceDays        int64 `json:"grace_days"`
}

// WarnStates name the warning levels.
var WarnStates = []string{"ok", "low", "very-low", "exhausted"}

// Balance returns a tenant's wallet: balance, daily burn, days remaining, grace state.
func (s *Service) Balance(ctx context.Context, tenant string) (*Wallet, error) {
	dt, err := s.readTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return s.wallet(ctx, dt.ID)
}

func (s *Service) wallet(ctx context.Context, tenantID int64) (*Wallet, error) {
	t, err := getTenantRow(ctx, s.db, tenantID)
	if err != nil {
		return nil, err
	}
	st, _, err := loadSettings(ctx, s.db)
	if err != nil {
		return nil, err
	}
	pb, err := loadPrices(ctx, s.db)
	if err != nil {
		return nil, err
	}
	w, exists, err := readWallet(ctx, s.db, t)
	if err != nil {
		return nil, err
	}
	today := s.today()
	burn, accounts, err := currentBurn(ctx, s.db, t.ID, today, pb)
	if err != nil {
		return nil, err
	}
	return buildWallet(t, w, exists, burn, accounts, st, today), nil
}

func buildWallet(t *tenantRow, w *wallet, exists bool, burn MilliPoints, accounts int64, st Settings, today Day) *Wallet {
	out := &Wallet{TenantID: t.ID, Tenant: t.Name, Contract: t.Contract, Charged: t.Contract == directory.ContractPayg,
		Balance: w.Balance, DailyBurn: burn, Accounts: accounts, DaysRemaining: -1, WarnLevel: w.WarnedLevel,
		PointsPerEUR: st.PointsPerEUR, WarnDays: st.WarnDays, GraceDays: st.GraceDays}
	out.BalanceEUR = FormatEUR(int64(w.Balance) / (st.PointsPerEUR * 10))
	if exists {
		ct := w.ChargedThrough
		out.ChargedThrough = &ct
	}
	if burn > 0 {
		out.DaysRemaining = max(int64(w.Balance/burn), 0)
	}
	if out.Charged {
		out.WarnLevel = warnLevel(w.Balance, burn, st.WarnDays)
	} else {
		out.WarnLevel = 0
	}
	out.WarnState = WarnStates[out.WarnLevel]
	if out.Charged && w.Depleted.Valid {
		d := Day(w.Depleted.Int64)
		g := d + Day(st.GraceDays)
		out.DepletedSince, out.GraceUntil = &d, &g
		out.Restricted = today >= g
		out.SendingSuspended = out.Restricted && st.SuspendSending
	}
	return out
}

// Wallets returns the wallet of every tenant, pay-per-use first (provider only).
func (s *Service) Wallets(ctx context.Context) ([]*Wallet, error) {
	if _, err := requireProvider(ctx); err != nil {
		return nil, err
	}
	st, _, err := loadSettings(ctx, s.db)
	if err != nil {
		return nil, err
	}
	pb, err := loadPrices(ctx, s.db)
	if err != nil {
		return nil, err
	}
	today := s.today()
	type burnAcc struct {
		burn     MilliPoints
		accounts int64
	}
	burns := map[int64]*burnAcc{}
	rows, err := s.db.QueryContext(ctx, `SELECT tenant_id, cos_id, COUNT(*) FROM account_cos_history WHERE to_ms IS NULL GROUP BY tenant_id, cos_id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var tid, cos, n int64
		if err := rows.Scan(&tid, &cos, &n); err != nil {
			rows.Close()
			return nil, err
		}
		b := burns[tid]
		if b == nil {
			b = &burnAcc{}
			burns[tid] = b
		}
		b.burn += pb.at(cos, today) * MilliPoints(n)
		b.accounts += n
	}
	rows.Close()
	rows, err = s.db.QueryContext(ctx, `SELECT t.id, t.name, t.contact_email, t.contract, t.created_at, w.tenant_id IS NOT NULL,
		COALESCE(w.balance_mp, 0), COALESCE(w.last_seq, 0), COALESCE(w.charged_through, 0), COALESCE(w.warned_level, 0), w.depleted_day
		FROM tenants t LEFT JOIN billing_wallets w ON w.tenant_id = t.id ORDER BY t.contract, t.name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Wallet
	for rows.Next() {
		var t tenantRow
		var w wallet
		var exists bool
		if err := rows.Scan(&t.ID, &t.Name, &t.Contact, &t.Contract, &t.CreatedAt, &exists, &w.Balance, &w.LastSeq, &w.ChargedThrough, &w.WarnedLevel, &w.Depleted); err != nil {
			return nil, err
		}
		w.TenantID = t.ID
		if !exists {
			w.ChargedThrough = DayOfMS(t.CreatedAt) - 1
		}
		var b burnAcc
		if x := burns[t.ID]; x != nil {
			b = *x
		}
		out = append(out, buildWallet(&t, &w, exists, b.burn, b.accounts, st, today))
	}
	return out, rows.Err()
}

// currentBurn is the daily price of the services a tenant has now (accounts by class of
// service, from the open rows of the COS history), and the number of those accounts.
func currentBurn(ctx context.Context, q db.Querier, tenantID int64, today Day, pb priceBook) (MilliPoints, int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT cos_id, COUNT(*) FROM account_cos_history WHERE tenant_id = ? AND to_ms IS NULL GROUP BY cos_id`, tenantID)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	var burn MilliPoints
	var n int64
	for rows.Next() {
		var cos, count int64
		if err := rows.Scan(&cos, &count); err != nil {
			return 0, 0, err
		}
		burn += pb.at(cos, today) * MilliPoints(count)
		n += count
	}
	return burn, n, rows.Err()
}

// warnLevel is 0 when the balance covers warnDays days or more at the burn, 1 below warnDays,
// 2 below warnDays/3, 3 at zero or below. The comparisons are exact (no rounding of days).
func warnLevel(balance, burn MilliPoints, warnDays int64) int {
	switch {
	case balance <= 0:
		return 3
	case burn <= 0 || warnDays <= 0:
		return 0
	case int64(balance)*3 < warnDays*int64(burn):
		return 2
	case int64(balance) < warnDays*int64(burn):
		return 1
	}
	return 0
}

// Verify checks every wallet against its ledger (provider only): the balance is the sum of the
// amounts, each row's balance_after follows from the previous one, the sequence has no gap, and
// each charge equals the sum of its lines. It returns the problems found.
func (s *Service) Verify(ctx context.Context) ([]string, error) {
	if _, err := requireProvider(ctx); err != nil {
		return nil, err
	}
	return verify(ctx, s.db)
}

func verify(ctx context.Context, q db.Querier) ([]string, error) {
	var problems []string
	type w struct {
		id      int64
		balance int64
		seq     int64
	}
	rows, err := q.QueryContext(ctx, `SELECT tenant_id, balance_mp, last_seq FROM billing_wallets ORDER BY tenant_id`)
	if err != nil {
		return nil, err
	}
	var ws []w
	for rows.Next() {
		var x w
		if err := rows.Scan(&x.id, &x.balance, &x.seq); err != nil {
			rows.Close()
			return nil, err
		}
		ws = append(ws, x)
	}
	rows.Close()
	for _, x := range ws {
		ms, err := listMovements(ctx, q, x.id, Day(-1<<40), Day(1<<40))
		if err != nil {
			return nil, err
		}
		var sum MilliPoints
		for i, m := range ms {
			sum += m.Amount
			if m.Seq != int64(i+1) {
				problems = append(problems, fmt.Sprintf("tenant %d: movement %d has sequence %d", x.id, i+1, m.Seq))
			}
			if m.BalanceAfter != sum {
				problems = append(problems, fmt.Sprintf("tenant %d: movement %d balance after %s, sum %s", x.id, m.Seq, m.BalanceAfter, sum))
			}
		}
		if int64(sum) != x.balance {
			problems = append(problems, fmt.Sprintf("tenant %d: wallet balance %s, ledger sum %s", x.id, MilliPoints(x.balance), sum))
		}
		if int64(len(ms)) != x.seq {
			problems = append(problems, fmt.Sprintf("tenant %d: wallet at sequence %d, ledger has %d movements", x.id, x.seq, len(ms)))
		}
	}
	rows, err = q.QueryContext(ctx, `SELECT l.tenant_id, l.charge_day, l.amount_mp, COALESCE((SELECT SUM(c.amount_mp) FROM billing_charge_lines c WHERE c.tenant_id = l.tenant_id AND c.day = l.charge_day), 0)
		FROM billing_ledger l WHERE l.kind = 'charge'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var tid, day, amount, lines int64
		if err := rows.Scan(&tid, &day, &amount, &lines); err != nil {
			return nil, err
		}
		if -amount != lines {
			problems = append(problems, fmt.Sprintf("tenant %d: charge of %s is %s, its lines sum to %s", tid, Day(day), MilliPoints(-amount), MilliPoints(lines)))
		}
	}
	return problems, rows.Err()
}
