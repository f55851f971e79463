package billing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// span is one row of the COS history: an account had a class of service from..to (to 0: still).
type span struct {
	account, cos int64
	from, to     int64
}

// loadSpans reads the COS history rows of a tenant that overlap the days lo..hi.
func loadSpans(ctx context.Context, q db.Querier, tenantID int64, lo, hi Day) ([]span, error) {
	rows, err := q.QueryContext(ctx, `SELECT account_id, cos_id, from_ms, COALESCE(to_ms, 0) FROM account_cos_history
		WHERE tenant_id = ? AND from_ms < ? AND (to_ms IS NULL OR to_ms > ?)`, tenantID, hi.End(), lo.Start())
	if err != nil {
		return nil, fmt.Errorf("billing: cos history: %w", err)
	}
	defer rows.Close()
	var out []span
	for rows.Next() {
		var s span
		if err := rows.Scan(&s.account, &s.cos, &s.from, &s.to); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Line is what one class of service cost a tenant on one day.
type Line struct {
	Day      Day         `json:"day"`
	COSID    int64       `json:"cos_id"`
	COS      string      `json:"cos,omitempty"`
	Accounts int64       `json:"accounts"`
	ActiveMS int64       `json:"active_ms"`
	PerDay   MilliPoints `json:"points_per_day"`
	Amount   MilliPoints `json:"amount"`
	Mode     string      `json:"mode"`
}

// AccountUse is what one account cost in one class of service over a period.
type AccountUse struct {
	AccountID int64
	COSID     int64
	Days      int64 // days with any time in the class
	ActiveMS  int64
	Amount    MilliPoints // its share: full days in whole-day mode, pro-rata per day otherwise
}

// computation is the usage of a tenant over days lo..hi under a charge rule.
type computation struct {
	Lines    []Line // by day, then class
	Accounts []AccountUse
	// PerDay is the number of distinct accounts with any service each day.
	PerDay map[Day]int64
}

type dayCOS struct {
	day Day
	cos int64
}

type acctCOS struct{ account, cos int64 }

// compute prices the spans over lo..hi: the one place where the charge rule is applied (the
// charge run and every report use it).
func compute(spans []span, lo, hi Day, pb priceBook, mode string) computation {
	type presence struct {
		account, cos int64
		day          Day
	}
	ms := map[presence]int64{}
	for _, sp := range spans {
		to := sp.to
		if to == 0 {
			to = hi.End()
		}
		from := max(sp.from, lo.Start())
		to = min(to, hi.End())
		if to <= from {
			continue
		}
		for d := DayOfMS(from); d.Start() < to; d++ {
			a, b := max(from, d.Start()), min(to, d.End())
			if b > a {
				ms[presence{sp.account, sp.cos, d}] += b - a
			}
		}
	}
	lines := map[dayCOS]*Line{}
	accts := map[acctCOS]*AccountUse{}
	seen := map[[2]int64]bool{} // (day, account)
	c := computation{PerDay: map[Day]int64{}}
	for p, t := range ms {
		if k := [2]int64{int64(p.day), p.account}; !seen[k] {
			seen[k] = true
			c.PerDay[p.day]++
		}
		k := dayCOS{p.day, p.cos}
		l := lines[k]
		if l == nil {
			l = &Line{Day: p.day, COSID: p.cos, PerDay: pb.at(p.cos, p.day), Mode: mode}
			lines[k] = l
		}
		l.Accounts++
		l.ActiveMS += t
		ak := acctCOS{p.account, p.cos}
		u := accts[ak]
		if u == nil {
			u = &AccountUse{AccountID: p.account, COSID: p.cos}
			accts[ak] = u
		}
		u.Days++
		u.ActiveMS += t
		if mode == ModeProRata {
			u.Amount += proRata(l.PerDay, t)
		} else {
			u.Amount += l.PerDay
		}
	}
	for _, l := range lines {
		if mode == ModeProRata {
			l.Amount = proRata(l.PerDay, l.ActiveMS)
		} else {
			l.Amount = l.PerDay * MilliPoints(l.Accounts)
		}
		c.Lines = append(c.Lines, *l)
	}
	sort.Slice(c.Lines, func(i, j int) bool {
		if c.Lines[i].Day != c.Lines[j].Day {
			return c.Lines[i].Day < c.Lines[j].Day
		}
		return c.Lines[i].COSID < c.Lines[j].COSID
	})
	for _, u := range accts {
		c.Accounts = append(c.Accounts, *u)
	}
	sort.Slice(c.Accounts, func(i, j int) bool {
		if c.Accounts[i].AccountID != c.Accounts[j].AccountID {
			return c.Accounts[i].AccountID < c.Accounts[j].AccountID
		}
		return c.Accounts[i].COSID < c.Accounts[j].COSID
	})
	return c
}

// RunResult summarises a charge run.
type RunResult struct {
	Through    Day         `json:"through"`
	Tenants    int         `json:"tenants"`      // tenants with days settled by this run
	Days       int         `json:"days_charged"` // tenant-days charged (with a ledger row)
	Charged    MilliPoints `json:"charged"`
	Warnings   int         `json:"warnings"`
	DurationMS int64       `json:"duration_ms"`
}

// Run settles every tenant up to and including the day through (YYYY-MM-DD; default
// yesterday), which must be over (provider only). Days already settled are left alone, so
// running twice, late or out of order charges each day once.
func (s *Service) Run(ctx context.Context, through string) (*RunResult, error) {
	if _, err := requireProvider(ctx); err != nil {
		return nil, err
	}
	today := s.today()
	d := today - 1
	if through != "" {
		var err error
		if d, err = ParseDay(through); err != nil {
			return nil, err
		}
	}
	if d >= today {
		return nil, invalid("date", "a day is charged once it is over: %s is not (today is %s, UTC)", d, today)
	}
	return s.run(ctx, d)
}

const leaseName = "charge-run"

// leaseTTL is how long a runner holds the lease without renewing it.
var leaseTTL = 5 * time.Minute

// acquireLease takes (or renews) the charge-run lease for this node; false when another node
// holds it.
func (s *Service) acquireLease(ctx context.Context) (bool, error) {
	now := s.now().UnixMilli()
	var holder string
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO billing_lease (name, holder, until_ms) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
			WHERE billing_lease.until_ms < ? OR billing_lease.holder = excluded.holder`,
			leaseName, s.opts.Node, now+leaseTTL.Milliseconds(), now); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT holder FROM billing_lease WHERE name = ?`, leaseName).Scan(&holder)
	})
	return holder == s.opts.Node, err
}

func (s *Service) releaseLease(ctx context.Context) {
	_, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE billing_lease SET until_ms = 0 WHERE name = ? AND holder = ?`, leaseName, s.opts.Node)
	if err != nil {
		s.log.Warn("billing: release lease", "err", err)
	}
}

type runTenant struct {
	tenantRow
	chargedThrough Day
}

func (s *Service) run(ctx context.Context, through Day) (*RunResult, error) {
	start := time.Now()
	ok, err := s.acquireLease(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, refuse("charge-run-busy", "", "a charge run is in progress on another node; try again in a few minutes")
	}
	defer s.releaseLease(ctx)
	res := &RunResult{Through: through}
	st, _, err := loadSettings(ctx, s.db)
	if err != nil {
		return nil, err
	}
	pb, err := loadPrices(ctx, s.db)
	if err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	// Open the wallets of tenants seen for the first time, from the day they were created, and
	// pass over the days of subscription tenants (not charged).
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO billing_wallets (tenant_id, charged_through, created_at)
			SELECT t.id, t.created_at / 86400000 - 1, ? FROM tenants t WHERE NOT EXISTS (SELECT 1 FROM billing_wallets w WHERE w.tenant_id = t.id)
			ON CONFLICT (tenant_id) DO NOTHING`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE billing_wallets SET charged_through = ? WHERE charged_through < ?
			AND tenant_id IN (SELECT id FROM tenants WHERE contract <> 'payg')`, int64(through), int64(through))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("billing: open wallets: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT t.id, t.name, t.contact_email, t.contract, t.created_at, w.charged_through
		FROM tenants t JOIN billing_wallets w ON w.tenant_id = t.id WHERE t.contract = 'payg' AND w.charged_through < ? ORDER BY t.id`, int64(through))
	if err != nil {
		return nil, err
	}
	var due []runTenant
	for rows.Next() {
		var t runTenant
		if err := rows.Scan(&t.ID, &t.Name, &t.Contact, &t.Contract, &t.CreatedAt, &t.chargedThrough); err != nil {
			rows.Close()
			return nil, err
		}
		due = append(due, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	renewed := time.Now()
	for _, t := range due {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if time.Since(renewed) > leaseTTL/5 {
			if ok, err := s.acquireLease(ctx); err != nil || !ok {
				return res, errors.Join(err, errors.New("billing: lost the charge-run lease"))
			}
			renewed = time.Now()
		}
		charged := false
		for d := t.chargedThrough + 1; d <= through; d++ {
			amount, did, err := s.chargeDay(ctx, &t.tenantRow, d, pb, st.ChargeMode)
			if err != nil {
				return res, fmt.Errorf("billing: charge %s for %s: %w", t.Name, d, err)
			}
			if did && amount > 0 {
				res.Days++
				res.Charged += amount
				charged = true
			}
		}
		res.Tenants++
		if charged {
			sent, err := s.evaluateWarnings(ctx, t.ID, st, pb)
			if err != nil {
				s.log.Warn("billing: warnings", "tenant", t.Name, "err", err)
			}
			if sent {
				res.Warnings++
			}
		}
	}
	res.DurationMS = time.Since(start).Milliseconds()
	return res, nil
}

// chargeDay settles one day of one pay-per-use tenant in one transaction. It reports whether
// this call settled the day (false: another run already had).
func (s *Service) chargeDay(ctx context.Context, t *tenantRow, d Day, pb priceBook, mode string) (MilliPoints, bool, error) {
	var total MilliPoints
	var did bool
	err := s.db.WriteTx(ctx, func(tx *db.Tx) error {
		total, did = 0, false
		w, err := lockWallet(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		if w.ChargedThrough >= d {
			return nil // settled meanwhile
		}
		if w.ChargedThrough != d-1 {
			return fmt.Errorf("wallet settled through %s, cannot charge %s", w.ChargedThrough, d)
		}
		spans, err := loadSpans(ctx, tx, t.ID, d, d)
		if err != nil {
			return err
		}
		c := compute(spans, d, d, pb, mode)
		for _, l := range c.Lines {
			total += l.Amount
		}
		if total > 0 {
			m := &Movement{Kind: KindCharge, Amount: -total, Day: d, Reason: "daily charge", Actor: "billing", Role: string(directory.RoleSystem), At: s.now().UnixMilli()}
			if err := appendMovement(ctx, tx, w, m, d+1); err != nil {
				return err
			}
			for _, l := range c.Lines {
				if _, err := tx.ExecContext(ctx, `INSERT INTO billing_charge_lines (tenant_id, day, cos_id, accounts, active_ms, mp_per_day, amount_mp, mode) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
					t.ID, int64(d), l.COSID, l.Accounts, l.ActiveMS, int64(l.PerDay), int64(l.Amount), l.Mode); err != nil {
					return err
				}
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE billing_wallets SET charged_through = ? WHERE tenant_id = ? AND charged_through = ?`, int64(d), t.ID, int64(d-1))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errors.New("wallet settled by another run")
		}
		did = true
		return nil
	})
	if err != nil && db.IsUniqueViolation(err) {
		return 0, false, nil // another node charged this day first
	}
	return total, did, err
}

// Loop runs the charge run at start (after a short pause) and then every interval, until ctx
// ends: posta serve runs it. A node that finds another running skips its turn.
func (s *Service) Loop(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Hour
	}
	ctx = directory.WithActor(ctx, directory.SystemActor("billing"))
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := s.run(ctx, s.today()-1)
		var de *directory.Error
		switch {
		case errors.As(err, &de) && de.Kind == "charge-run-busy":
			s.log.Debug("billing: charge run held by another node")
		case err != nil && ctx.Err() == nil:
			s.log.Error("billing: charge run", "err", err)
		case err == nil && (res.Days > 0 || res.Warnings > 0):
			s.log.Info("billing: charge run", "through", res.Through.String(), "tenants", res.Tenants, "days", res.Days,
				"charged", res.Charged.String(), "warnings", res.Warnings, "ms", res.DurationMS)
		}
		t.Reset(interval)
	}
}
