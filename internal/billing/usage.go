package billing

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// Usage groupings.
const (
	ByDay     = "day"
	ByCOS     = "cos"
	ByAccount = "account"
)

// UsageRow is one line of a consumption report.
type UsageRow struct {
	Day     *Day   `json:"day,omitempty"`
	COS     string `json:"cos,omitempty"`
	Account string `json:"account,omitempty"`
	// Accounts: distinct accounts (by day and by class of service).
	Accounts int64 `json:"accounts,omitempty"`
	// AccountDays: days of service, with three decimals in pro-rata mode.
	AccountDays string `json:"account_days"`
	// Amount: the value under the price list and the charge rule in force.
	Amount MilliPoints `json:"amount"`
	// Charged: what the ledger charged that day (by day, pay-per-use tenants).
	Charged *MilliPoints `json:"charged,omitempty"`
}

// Usage is a consumption report of a tenant over a period.
type Usage struct {
	TenantID int64       `json:"tenant_id"`
	Tenant   string      `json:"tenant"`
	Contract string      `json:"contract"`
	By       string      `json:"by"`
	From     Day         `json:"from"`
	To       Day         `json:"to"`
	Mode     string      `json:"mode"`
	Rows     []UsageRow  `json:"rows"`
	Total    MilliPoints `json:"total"`
	// Charged is the total the ledger charged over the period (pay-per-use tenants).
	Charged *MilliPoints `json:"charged,omitempty"`
}

// milliDays formats an amount of service in thousandths of a day.
func milliDays(n int64) string { return MilliPoints(n).String() }

// UsageFor reports a tenant's consumption over from..to (YYYY-MM-DD; default the current month
// up to today) grouped by day, class of service or account. It is computed from the COS history
// with the price list and the charge rule in force, for subscription tenants as well; for
// pay-per-use tenants the days already charged also show what the ledger charged.
func (s *Service) UsageFor(ctx context.Context, tenant, by, from, to string) (*Usage, error) {
	t, err := s.readTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	switch by {
	case "":
		by = ByDay
	case ByDay, ByCOS, ByAccount:
	default:
		return nil, invalid("by", `group by "day", "cos" or "account", not %q`, by)
	}
	today := s.today()
	first := DayOf(today.Time().AddDate(0, 0, 1-today.Time().Day()))
	lo, hi, err := dayRange(from, to, first, today)
	if err != nil {
		return nil, err
	}
	if hi-lo > 3660 {
		return nil, invalid("from", "a report covers at most ten years")
	}
	return s.usage(ctx, t, by, lo, hi)
}

func (s *Service) usage(ctx context.Context, t *directory.Tenant, by string, lo, hi Day) (*Usage, error) {
	st, _, err := loadSettings(ctx, s.db)
	if err != nil {
		return nil, err
	}
	pb, err := loadPrices(ctx, s.db)
	if err != nil {
		return nil, err
	}
	names, err := cosNames(ctx, s.db)
	if err != nil {
		return nil, err
	}
	spans, err := loadSpans(ctx, s.db, t.ID, lo, hi)
	if err != nil {
		return nil, err
	}
	c := compute(spans, lo, hi, pb, st.ChargeMode)
	u := &Usage{TenantID: t.ID, Tenant: t.Name, Contract: t.Contract, By: by, From: lo, To: hi, Mode: st.ChargeMode, Rows: []UsageRow{}}
	for _, l := range c.Lines {
		u.Total += l.Amount
	}
	var charged map[Day]MilliPoints
	if t.Contract == directory.ContractPayg {
		charged, err = chargedByDay(ctx, s.db, t.ID, lo, hi)
		if err != nil {
			return nil, err
		}
		var sum MilliPoints
		for _, v := range charged {
			sum += v
		}
		u.Charged = &sum
	}
	qty := func(accounts, activeMS int64) string {
		if st.ChargeMode == ModeProRata {
			return milliDays(activeMS * 1000 / dayMS)
		}
		return milliDays(accounts * 1000)
	}
	switch by {
	case ByDay:
		idx := map[Day]int{}
		for d := lo; d <= hi; d++ {
			day := d
			idx[d] = len(u.Rows)
			r := UsageRow{Day: &day, AccountDays: "0"}
			if charged != nil {
				v := charged[d]
				r.Charged = &v
			}
			u.Rows = append(u.Rows, r)
		}
		ms, presence := map[Day]int64{}, map[Day]int64{}
		for _, l := range c.Lines {
			r := &u.Rows[idx[l.Day]]
			r.Amount += l.Amount
			ms[l.Day] += l.ActiveMS
			presence[l.Day] += l.Accounts
		}
		for i := range u.Rows {
			r := &u.Rows[i]
			r.Accounts = c.PerDay[*r.Day]
			r.AccountDays = qty(presence[*r.Day], ms[*r.Day])
		}
	case ByCOS:
		type agg struct{ presence, ms int64 }
		per := map[int64]*agg{}
		amounts := map[int64]MilliPoints{}
		for _, l := range c.Lines {
			a := per[l.COSID]
			if a == nil {
				a = &agg{}
				per[l.COSID] = a
			}
			a.presence += l.Accounts
			a.ms += l.ActiveMS
			amounts[l.COSID] += l.Amount
		}
		distinct := map[int64]int64{}
		for _, au := range c.Accounts {
			distinct[au.COSID]++
		}
		for cos, a := range per {
			u.Rows = append(u.Rows, UsageRow{COS: names[cos], Accounts: distinct[cos], AccountDays: qty(a.presence, a.ms), Amount: amounts[cos]})
		}
		sort.Slice(u.Rows, func(i, j int) bool { return u.Rows[i].COS < u.Rows[j].COS })
	case ByAccount:
		addrs, err := accountAddresses(ctx, s.db, t.ID)
		if err != nil {
			return nil, err
		}
		for _, au := range c.Accounts {
			addr, ok := addrs[au.AccountID]
			if !ok {
				addr = "#" + strconv.FormatInt(au.AccountID, 10) + " (removed)"
			}
			u.Rows = append(u.Rows, UsageRow{Account: addr, COS: names[au.COSID], AccountDays: qty(au.Days, au.ActiveMS), Amount: au.Amount})
		}
		sort.SliceStable(u.Rows, func(i, j int) bool {
			if u.Rows[i].Account != u.Rows[j].Account {
				return u.Rows[i].Account < u.Rows[j].Account
			}
			return u.Rows[i].COS < u.Rows[j].COS
		})
	}
	return u, nil
}

func chargedByDay(ctx context.Context, q db.Querier, tenantID int64, lo, hi Day) (map[Day]MilliPoints, error) {
	rows, err := q.QueryContext(ctx, `SELECT charge_day, amount_mp FROM billing_ledger WHERE tenant_id = ? AND kind = 'charge' AND charge_day >= ? AND charge_day <= ?`,
		tenantID, int64(lo), int64(hi))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[Day]MilliPoints{}
	for rows.Next() {
		var d Day
		var a MilliPoints
		if err := rows.Scan(&d, &a); err != nil {
			return nil, err
		}
		out[d] = -a
	}
	return out, rows.Err()
}

func accountAddresses(ctx context.Context, q db.Querier, tenantID int64) (map[int64]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, address FROM accounts WHERE tenant_id = ?`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var a string
		if err := rows.Scan(&id, &a); err != nil {
			return nil, err
		}
		out[id] = a
	}
	return out, rows.Err()
}

// Statement is a tenant's monthly statement: opening and closing balance, the movements with
// value dates in the month, and the consumption by class of service and by account.
type Statement struct {
	TenantID     int64       `json:"tenant_id"`
	Tenant       string      `json:"tenant"`
	Contact      string      `json:"contact"`
	Contract     string      `json:"contract"`
	Month        string      `json:"month"`
	From         Day         `json:"from"`
	To           Day         `json:"to"`
	Opening      MilliPoints `json:"opening_balance"`
	Closing      MilliPoints `json:"closing_balance"`
	Recharged    MilliPoints `json:"recharged"`
	RechargedEUR string      `json:"recharged_eur"`
	Charged      MilliPoints `json:"charged"`
	Adjusted     MilliPoints `json:"adjusted"`
	Refunded     MilliPoints `json:"refunded"`
	Movements    []Movement  `json:"movements"`
	ByCOS        []UsageRow  `json:"by_cos"`
	ByAccount    []UsageRow  `json:"by_account"`
	Mode         string      `json:"mode"`
	PointsPerEUR int64       `json:"points_per_eur"`
	GeneratedAt  int64       `json:"generated_at"`
}

// StatementFor builds a tenant's statement of a month (YYYY-MM).
func (s *Service) StatementFor(ctx context.Context, tenant, month string) (*Statement, error) {
	t, err := s.readTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	lo, hi, err := ParseMonth(month)
	if err != nil {
		return nil, err
	}
	tr, err := getTenantRow(ctx, s.db, t.ID)
	if err != nil {
		return nil, err
	}
	st, _, err := loadSettings(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := &Statement{TenantID: t.ID, Tenant: t.Name, Contact: tr.Contact, Contract: t.Contract, Month: lo.Time().Format("2006-01"), From: lo, To: hi,
		Mode: st.ChargeMode, PointsPerEUR: st.PointsPerEUR, GeneratedAt: s.now().UnixMilli()}
	var opening int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_mp), 0) FROM billing_ledger WHERE tenant_id = ? AND day < ?`, t.ID, int64(lo)).Scan(&opening); err != nil {
		return nil, err
	}
	out.Opening = MilliPoints(opening)
	ms, err := listMovements(ctx, s.db, t.ID, lo, hi)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Day < ms[j].Day })
	out.Movements = ms
	out.Closing = out.Opening
	var cents int64
	for _, m := range ms {
		out.Closing += m.Amount
		switch m.Kind {
		case KindRecharge:
			out.Recharged += m.Amount
			cents += m.EURCents
		case KindCharge:
			out.Charged -= m.Amount
		case KindAdjustment:
			out.Adjusted += m.Amount
		case KindRefund:
			out.Refunded += m.Amount
		}
	}
	out.RechargedEUR = FormatEUR(cents)
	// Consumption up to the last day that is over (today is not charged yet).
	end := min(hi, s.today()-1)
	if end >= lo {
		uc, err := s.usage(ctx, t, ByCOS, lo, end)
		if err != nil {
			return nil, err
		}
		ua, err := s.usage(ctx, t, ByAccount, lo, end)
		if err != nil {
			return nil, err
		}
		out.ByCOS, out.ByAccount = uc.Rows, ua.Rows
	}
	return out, nil
}

// usageTable is a report as a header and rows of cells: strings, int64 counts, and amounts
// (MilliPoints, written as exact decimal text).
func usageTable(u *Usage) ([]string, [][]any) {
	var header []string
	var rows [][]any
	switch u.By {
	case ByDay:
		header = []string{"day", "accounts", "account_days", "amount_points", "charged_points"}
		for _, r := range u.Rows {
			var ch any = ""
			if r.Charged != nil {
				ch = *r.Charged
			}
			rows = append(rows, []any{r.Day.String(), r.Accounts, r.AccountDays, r.Amount, ch})
		}
	case ByCOS:
		header = []string{"cos", "accounts", "account_days", "amount_points"}
		for _, r := range u.Rows {
			rows = append(rows, []any{r.COS, r.Accounts, r.AccountDays, r.Amount})
		}
	case ByAccount:
		header = []string{"account", "cos", "days", "amount_points"}
		for _, r := range u.Rows {
			rows = append(rows, []any{r.Account, r.COS, r.AccountDays, r.Amount})
		}
	}
	return header, rows
}

// ledgerTable is movements as a header and rows of cells.
func ledgerTable(ms []Movement) ([]string, [][]any) {
	header := []string{"seq", "day", "kind", "amount_points", "balance_after_points", "eur", "points_per_eur", "reference", "reason", "actor", "at"}
	var rows [][]any
	for _, m := range ms {
		var rate any = ""
		if m.PointsPerEUR != 0 {
			rate = m.PointsPerEUR
		}
		rows = append(rows, []any{m.Seq, m.Day.String(), m.Kind, m.Amount, m.BalanceAfter, m.EUR, rate, m.Reference, m.Reason, m.Actor,
			time.UnixMilli(m.At).UTC().Format(time.RFC3339)})
	}
	return header, rows
}

func writeCSV(w io.Writer, header []string, rows [][]any) error {
	cw := csv.NewWriter(w)
	cw.Write(header)
	rec := make([]string, len(header))
	for _, r := range rows {
		for i, v := range r {
			switch x := v.(type) {
			case string:
				rec[i] = safeCSV(x)
			case MilliPoints:
				rec[i] = x.String()
			default:
				rec[i] = fmt.Sprint(x)
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// WriteUsageCSV writes a report as CSV (amounts in points with a decimal point).
func WriteUsageCSV(w io.Writer, u *Usage) error {
	h, rows := usageTable(u)
	return writeCSV(w, h, rows)
}

// WriteLedgerCSV writes movements as CSV.
func WriteLedgerCSV(w io.Writer, ms []Movement) error {
	h, rows := ledgerTable(ms)
	return writeCSV(w, h, rows)
}

// safeCSV keeps a spreadsheet from reading a text cell as a formula.
func safeCSV(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

// DayPoint is one day of a chart series.
type DayPoint struct {
	Day   Day         `json:"day"`
	Value MilliPoints `json:"value"`
}

// History returns, for the days lo..hi, the daily burn (charged for pay-per-use tenants, the
// value at list price otherwise) and the balance at the end of each day (pay-per-use only).
func (s *Service) History(ctx context.Context, tenant string, days int) (burn, balance []DayPoint, err error) {
	t, err := s.readTenant(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	if days <= 0 || days > 3660 {
		days = 90
	}
	hi := s.today()
	lo := hi - Day(days) + 1
	u, err := s.usage(ctx, t, ByDay, lo, hi)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range u.Rows {
		v := r.Amount
		if r.Charged != nil && *r.Day < hi {
			v = *r.Charged
		}
		burn = append(burn, DayPoint{Day: *r.Day, Value: v})
	}
	if t.Contract != directory.ContractPayg {
		return burn, nil, nil
	}
	var bal int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount_mp), 0) FROM billing_ledger WHERE tenant_id = ? AND day < ?`, t.ID, int64(lo)).Scan(&bal); err != nil {
		return nil, nil, err
	}
	ms, err := listMovements(ctx, s.db, t.ID, lo, hi)
	if err != nil {
		return nil, nil, err
	}
	perDay := map[Day]MilliPoints{}
	for _, m := range ms {
		perDay[m.Day] += m.Amount
	}
	cur := MilliPoints(bal)
	for d := lo; d <= hi; d++ {
		cur += perDay[d]
		balance = append(balance, DayPoint{Day: d, Value: cur})
	}
	return burn, balance, nil
}
