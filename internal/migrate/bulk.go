package migrate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/provision"
)

// Bulk columns and the headers that name them (normalised: lower case, letters and digits).
const (
	colHost = iota
	colUser
	colPassword
	colAddress
	colPort
	colTLS
	colAuthz
	numCols
)

var colKeys = [numCols]string{"source_host", "source_user", "source_password", "address", "source_port", "source_tls", "source_authz"}

var bulkHeaders = map[string]int{
	"sourcehost": colHost, "host": colHost, "server": colHost, "imapserver": colHost, "serverdiorigine": colHost, "serverorigine": colHost,
	"sourceuser": colUser, "user": colUser, "username": colUser, "login": colUser, "utente": colUser, "utenteorigine": colUser,
	"sourcepassword": colPassword, "password": colPassword, "passwordorigine": colPassword,
	"address": colAddress, "destination": colAddress, "destinationaddress": colAddress, "destinazione": colAddress, "indirizzo": colAddress,
	"email": colAddress, "indirizzodestinazione": colAddress,
	"sourceport": colPort, "port": colPort, "porta": colPort,
	"sourcetls": colTLS, "tls": colTLS,
	"sourceauthz": colAuthz, "authz": colAuthz, "actas": colAuthz,
}

func normHeader(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// BulkResult is what a bulk file created, or why it was refused.
type BulkResult struct {
	Jobs     []*Job              `json:"jobs"`
	Problems []provision.Problem `json:"problems,omitempty"`
	Notes    []string            `json:"notes,omitempty"`
}

// Bulk creates one job per row of a spreadsheet (XLSX or CSV, read as provisioning files are)
// with the columns source host, source user, source password and destination address (and
// optionally source port, TLS and authorisation identity); def gives the other settings and the
// defaults. Every row is checked first: one bad row refuses the whole file (nothing queued).
// Destination accounts must belong to the tenant.
func (s *Service) Bulk(ctx context.Context, tenant string, data []byte, def Request) (*BulkResult, error) {
	t, err := s.dir.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	tab, err := provision.ReadTable(data)
	if err != nil {
		return nil, err
	}
	res := &BulkResult{Notes: tab.Notes, Jobs: []*Job{}}
	colOf := make([]int, len(tab.Header))
	var has [numCols]bool
	for i, h := range tab.Header {
		colOf[i] = -1
		if h == "" {
			continue
		}
		c, ok := bulkHeaders[normHeader(h)]
		if !ok {
			return nil, &directory.Error{Kind: "invalid-spreadsheet", Field: "file", Msg: fmt.Sprintf(
				"column %q of the header is not known; the columns are: %s", h, strings.Join(colKeys[:], ", "))}
		}
		if has[c] {
			return nil, &directory.Error{Kind: "invalid-spreadsheet", Field: "file", Msg: fmt.Sprintf("the header names %s twice", colKeys[c])}
		}
		colOf[i], has[c] = c, true
	}
	for _, c := range []int{colHost, colUser, colPassword, colAddress} {
		if !has[c] {
			return nil, &directory.Error{Kind: "invalid-spreadsheet", Field: "file", Msg: fmt.Sprintf("the header has no %s column; the columns are: %s", colKeys[c], strings.Join(colKeys[:], ", "))}
		}
	}
	var reqs []Request
	for _, row := range tab.Rows {
		res.Problems = append(res.Problems, row.Problems...)
		var cells [numCols]string
		for i, v := range row.Cells {
			if i < len(colOf) && colOf[i] >= 0 {
				cells[colOf[i]] = v
			} else if v != "" {
				res.Problems = append(res.Problems, provision.Problem{Row: row.Num, Kind: "invalid-spreadsheet", Reason: fmt.Sprintf("a value in a column without header: %q", v)})
			}
		}
		r := def
		r.SourceHost, r.SourceUser, r.SourcePassword, r.Address = cells[colHost], cells[colUser], cells[colPassword], cells[colAddress]
		if cells[colAuthz] != "" {
			r.SourceAuthz = cells[colAuthz]
		}
		if cells[colTLS] != "" {
			r.SourceTLS = strings.ToLower(cells[colTLS])
		}
		if cells[colPort] != "" {
			p, err := strconv.Atoi(cells[colPort])
			if err != nil {
				res.Problems = append(res.Problems, provision.Problem{Row: row.Num, Column: "source_port", Kind: "invalid-argument", Reason: fmt.Sprintf("the port %q is not a number", cells[colPort])})
				continue
			}
			r.SourcePort = p
		}
		if err := r.check(); err != nil {
			de, _ := err.(*directory.Error)
			res.Problems = append(res.Problems, provision.Problem{Row: row.Num, Column: de.Field, Kind: de.Kind, Reason: de.Msg})
			continue
		}
		acc, err := s.manageable(ctx, r.Address)
		if err == nil && acc.TenantID != t.ID {
			err = &directory.Error{Kind: "not-found", Msg: fmt.Sprintf("no account %q in tenant %s", r.Address, t.Name)}
		}
		if err != nil {
			de, ok := err.(*directory.Error)
			if !ok {
				return nil, err
			}
			res.Problems = append(res.Problems, provision.Problem{Row: row.Num, Column: "address", Kind: de.Kind, Reason: de.Msg})
			continue
		}
		reqs = append(reqs, r)
	}
	if len(res.Problems) > 0 {
		var lines []string
		for i, p := range res.Problems {
			if i == 5 {
				lines = append(lines, fmt.Sprintf("and %d more", len(res.Problems)-5))
				break
			}
			lines = append(lines, fmt.Sprintf("row %d: %s", p.Row, p.String()))
		}
		return res, &directory.Error{Kind: "invalid-spreadsheet", Field: "file", Msg: "nothing was queued: " + strings.Join(lines, "; ")}
	}
	for _, r := range reqs {
		j, err := s.Create(ctx, r)
		if err != nil {
			return res, err
		}
		res.Jobs = append(res.Jobs, j)
	}
	return res, nil
}
