package pim

import (
	"context"
	neturl "net/url"
	"strings"

	"github.com/postamail/posta/internal/davclient"
	"github.com/postamail/posta/internal/db"
)

// Fetcher fetches collections from a CardDAV or CalDAV server (davclient.Client).
type Fetcher interface {
	Fetch(ctx context.Context, kind davclient.Kind, url string) ([]davclient.Collection, error)
}

// ImportDAV imports the address books (or calendars) found at url into the account, one
// result per collection of the server. With a name, every collection goes into the account's
// collection of that name; without one, a single collection goes into the default one and
// several each into one named like the server's.
func (s *Service) ImportDAV(ctx context.Context, kind davclient.Kind, account, name string, f Fetcher, url string) ([]*Result, error) {
	// Refuse an account the actor may not see before contacting any server.
	if _, err := s.dir.GetAccount(ctx, account); err != nil {
		return nil, err
	}
	cols, err := f.Fetch(ctx, kind, url)
	if err != nil {
		return nil, err
	}
	var out []*Result
	for i := range cols {
		c := &cols[i]
		target := name
		if target == "" && len(cols) > 1 {
			if target = c.Name; target == "" {
				target = c.PathName()
			}
		}
		srcs := make([]Source, len(c.Resources))
		for j, r := range c.Resources {
			srcs[j] = Source{Name: r.Href, Data: r.Data}
		}
		from := origin{kind: "carddav", server: serverName(c.URL, url)}
		var res *Result
		if kind == davclient.Calendars {
			from.kind = "caldav"
			res, err = s.importCalendar(ctx, account, target, from, srcs)
		} else {
			res, err = s.importContacts(ctx, account, target, from, srcs)
		}
		if res == nil {
			return out, err
		}
		if kind == davclient.Calendars && c.Color != "" && res.Imported+res.Updated+res.Skipped > 0 {
			if err := s.setColor(ctx, account, res.Collection, c.Color); err != nil {
				return out, err
			}
		}
		// A collection without any valid object is reported in its result, not as a failure.
		out = append(out, res)
	}
	return out, nil
}

// serverName is the URL of a collection (or, when the server gave none, the one asked) as the
// audit log names it: scheme, host and path, without a user name, password, query or fragment.
func serverName(collection, asked string) string {
	for _, raw := range []string{collection, asked} {
		if u, err := neturl.Parse(raw); err == nil && u.Host != "" {
			return (&neturl.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
		}
	}
	return "(unknown)"
}

// setColor gives a calendar the colour of the one it was imported from, unless it has one.
func (s *Service) setColor(ctx context.Context, account, calendar, color string) error {
	if !validColor(color) {
		return nil
	}
	acc, err := s.dir.GetAccount(ctx, account)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE calendars SET color = ? WHERE account_id = ? AND name = ? AND color = ''`, color, acc.ID, calendar)
		return err
	})
}

// validColor accepts the #RRGGBB and #RRGGBBAA colours DAV servers give.
func validColor(c string) bool {
	if len(c) != 7 && len(c) != 9 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}
