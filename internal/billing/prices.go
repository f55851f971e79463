package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
)

// Price is one row of the price list: the daily price of a class of service from a day on.
type Price struct {
	COSID     int64       `json:"cos_id"`
	COS       string      `json:"cos"`
	From      Day         `json:"from"`
	PerDay    MilliPoints `json:"points_per_day"`
	CreatedAt int64       `json:"created_at"`
	CreatedBy string      `json:"created_by"`
}

// PriceLine is a class of service with its price today and the next change, if one is set.
type PriceLine struct {
	COSID   int64        `json:"cos_id"`
	COS     string       `json:"cos"`
	Current *Price       `json:"current,omitempty"`
	Next    *Price       `json:"next,omitempty"`
	History []Price      `json:"history,omitempty"`
	Per30   *MilliPoints `json:"points_per_30_days,omitempty"`
}

// priceBook is the whole price list in memory: per class, its rows by day.
type priceBook map[int64][]Price

func loadPrices(ctx context.Context, q db.Querier) (priceBook, error) {
	rows, err := q.QueryContext(ctx, `SELECT p.cos_id, c.name, p.from_day, p.mp_per_day, p.created_at, p.created_by
		FROM billing_prices p JOIN cos c ON c.id = p.cos_id ORDER BY p.cos_id, p.from_day`)
	if err != nil {
		return nil, fmt.Errorf("billing: prices: %w", err)
	}
	defer rows.Close()
	pb := priceBook{}
	for rows.Next() {
		var p Price
		if err := rows.Scan(&p.COSID, &p.COS, &p.From, &p.PerDay, &p.CreatedAt, &p.CreatedBy); err != nil {
			return nil, err
		}
		pb[p.COSID] = append(pb[p.COSID], p)
	}
	return pb, rows.Err()
}

// at is the daily price of a class on a day (0 when the class has no price yet).
func (pb priceBook) at(cos int64, d Day) MilliPoints {
	ps := pb[cos]
	i := sort.Search(len(ps), func(i int) bool { return ps[i].From > d })
	if i == 0 {
		return 0
	}
	return ps[i-1].PerDay
}

// Prices returns the price list: every class of service with its current price, the next
// change and the history (the provider and tenant administrators).
func (s *Service) Prices(ctx context.Context) ([]PriceLine, error) {
	if _, err := requireReader(ctx); err != nil {
		return nil, err
	}
	coses, err := s.dir.ListCOS(ctx)
	if err != nil {
		return nil, err
	}
	pb, err := loadPrices(ctx, s.db)
	if err != nil {
		return nil, err
	}
	today := s.today()
	out := make([]PriceLine, 0, len(coses))
	for _, c := range coses {
		l := PriceLine{COSID: c.ID, COS: c.Name, History: pb[c.ID]}
		for i := range l.History {
			p := l.History[i]
			if p.From <= today {
				l.Current = &p
			} else if l.Next == nil {
				l.Next = &p
			}
		}
		if l.Current != nil {
			v := l.Current.PerDay * 30
			l.Per30 = &v
		}
		out = append(out, l)
	}
	return out, nil
}

// SetPrice sets the daily price of a class of service from a day on (provider only). The day
// defaults to today and may not be in the past: days already begun keep the price they had.
// Setting a price for a day that already has one replaces it (that day has not been charged).
func (s *Service) SetPrice(ctx context.Context, cos string, perDay MilliPoints, from string) (*Price, error) {
	a, err := requireProvider(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.dir.GetCOS(ctx, cos)
	if err != nil {
		return nil, err
	}
	if perDay < 0 || perDay > 1_000_000*PerPoint {
		return nil, invalid("points_per_day", "a daily price must be between 0 and 1000000 points, got %s", perDay)
	}
	today := s.today()
	day := today
	if from != "" {
		if day, err = ParseDay(from); err != nil {
			return nil, err
		}
	}
	if day < today {
		return nil, invalid("from", "a price change takes effect today or later, not on %s: the past is never rewritten", day)
	}
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		// A day being charged right now (a run for "today" is refused, so this is only a guard
		// against clocks that disagree between nodes).
		var charged int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM billing_charge_lines WHERE cos_id = ? AND day >= ?`, c.ID, int64(day)).Scan(&charged); err != nil {
			return err
		}
		if charged > 0 {
			return invalid("from", "%s has already been charged from %s on", c.Name, day)
		}
		var before any // nil: no earlier price
		var prevMP, prevDay int64
		err := tx.QueryRowContext(ctx, `SELECT mp_per_day, from_day FROM billing_prices WHERE cos_id = ? AND from_day <= ? ORDER BY from_day DESC LIMIT 1`, c.ID, int64(day)).Scan(&prevMP, &prevDay)
		switch {
		case err == nil:
			before = map[string]string{"points_per_day": MilliPoints(prevMP).String(), "from": Day(prevDay).String()}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO billing_prices (cos_id, from_day, mp_per_day, created_at, created_by) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (cos_id, from_day) DO UPDATE SET mp_per_day = excluded.mp_per_day, created_at = excluded.created_at, created_by = excluded.created_by`,
			c.ID, int64(day), int64(perDay), s.now().UnixMilli(), actorName(a))
		if err != nil {
			return err
		}
		return directory.AuditAs(ctx, tx, a, 0, "billing.price", c.Name, before, map[string]string{"points_per_day": perDay.String(), "from": day.String()})
	})
	if err != nil {
		return nil, err
	}
	return &Price{COSID: c.ID, COS: c.Name, From: day, PerDay: perDay, CreatedAt: s.now().UnixMilli(), CreatedBy: actorName(a)}, nil
}

// cosNames maps class ids to names.
func cosNames(ctx context.Context, q db.Querier) (map[int64]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, name FROM cos`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[int64]string{}
	for rows.Next() {
		var id int64
		var n string
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		m[id] = n
	}
	return m, rows.Err()
}
