package directory

import (
	"context"
	"fmt"
	"strings"
)

// SendingStat is what one account submitted for delivery: today (UTC) and over a period of
// days ending today, against its class of service's daily limit.
type SendingStat struct {
	Address          string `json:"address"`
	COS              string `json:"cos"`
	LimitPerDay      int    `json:"limit_per_day"` // 0: no limit
	Today            int64  `json:"today"`
	TodayRecipients  int64  `json:"today_recipients"`
	Period           int64  `json:"period"`
	PeriodRecipients int64  `json:"period_recipients"`
}

// SendingStats returns the sending counters of the accounts that submitted mail in the last
// days days (1 to 90; today included), busiest today first, within what the caller
// administers (tenant: "" for all it may see).
func (s *Service) SendingStats(ctx context.Context, tenant string, days int) ([]SendingStat, error) {
	if days < 1 || days > 90 {
		return nil, &Error{Kind: "invalid-argument", Field: "days", Msg: "days must be between 1 and 90"}
	}
	actor, ok := ActorFrom(ctx)
	if !ok {
		return nil, ErrForbidden
	}
	today := dayOf(s.now())
	where := []string{"x.day > ?"}
	args := []any{today, today, today - int64(days)}
	switch actor.Role {
	case RoleSystem, RoleProvider:
	case RoleTenantAdmin:
		where, args = append(where, "a.tenant_id = ?"), append(args, actor.TenantID)
	case RoleDomainAdmin:
		where, args = append(where, "a.domain_id IN (SELECT domain_id FROM admin_domains WHERE admin_id = ?)"), append(args, actor.ID)
	default:
		return nil, ErrForbidden
	}
	if tenant != "" {
		t, err := s.GetTenant(ctx, tenant)
		if err != nil {
			return nil, err
		}
		where, args = append(where, "a.tenant_id = ?"), append(args, t.ID)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT a.address, c.name, COALESCE(c.send_per_day, 0),
		SUM(CASE WHEN x.day = ? THEN x.messages ELSE 0 END), SUM(CASE WHEN x.day = ? THEN x.recipients ELSE 0 END),
		SUM(x.messages), SUM(x.recipients)
		FROM account_sends x JOIN accounts a ON a.id = x.account_id JOIN cos c ON c.id = a.cos_id
		WHERE `+strings.Join(where, " AND ")+`
		GROUP BY a.address, c.name, c.send_per_day ORDER BY 4 DESC, 6 DESC, a.address`, args...)
	if err != nil {
		return nil, fmt.Errorf("directory: sending stats: %w", err)
	}
	defer rows.Close()
	out := []SendingStat{}
	for rows.Next() {
		var st SendingStat
		if err := rows.Scan(&st.Address, &st.COS, &st.LimitPerDay, &st.Today, &st.TodayRecipients, &st.Period, &st.PeriodRecipients); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}
