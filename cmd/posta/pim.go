package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/postamail/posta/internal/davclient"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/pim"
	"github.com/postamail/posta/internal/server"
)

func importCommands() map[string]command {
	return map[string]command{
		"contacts": {"import contacts: --to ADDRESS FILE.vcf... | --dav-url URL --dav-user U --dav-password-file F [--dav-ca-file F] [--book NAME] [--json]", importContacts},
		"calendar": {"import events and tasks: --to ADDRESS FILE.ics... | --dav-url URL --dav-user U --dav-password-file F [--dav-ca-file F] [--calendar NAME] [--json]", importCalendar},
	}
}

func contactsCommands() map[string]command {
	return map[string]command{
		"list":   {"list contacts: ADDRESS [--book NAME] [--q TEXT] [--limit N] [--json]", contactsList},
		"books":  {"list address books: ADDRESS [--json]", contactsBooks},
		"export": {"write an address book as a .vcf file: ADDRESS [--book NAME] [-o FILE]", contactsExport},
	}
}

func calendarCommands() map[string]command {
	return map[string]command{
		"list":      {"list events and tasks: ADDRESS [--calendar NAME] [--from DATE] [--to DATE] [--limit N] [--json]", calendarList},
		"calendars": {"list calendars: ADDRESS [--json]", calendarCalendars},
		"export":    {"write a calendar as an .ics file: ADDRESS [--calendar NAME] [-o FILE]", calendarExport},
	}
}

func importContacts(ctx context.Context, e *env, args []string) error {
	return runImport(ctx, e, args, davclient.AddressBooks)
}

func importCalendar(ctx context.Context, e *env, args []string) error {
	return runImport(ctx, e, args, davclient.Calendars)
}

func runImport(ctx context.Context, e *env, args []string, kind davclient.Kind) error {
	noun, coll := "contacts", "book"
	if kind == davclient.Calendars {
		noun, coll = "calendar", "calendar"
	}
	fs := newFlags("import " + noun)
	to := fs.String("to", "", "the account to import into")
	name := fs.String(coll, "", "the "+coll+" to import into (made when missing; default: the account's default one)")
	davURL := fs.String("dav-url", "", "fetch from this CardDAV/CalDAV server, principal or collection (https://)")
	davUser := fs.String("dav-user", "", "user name on the DAV server")
	davPWFile := fs.String("dav-password-file", "", "file holding the DAV password (- for standard input)")
	davCA := fs.String("dav-ca-file", "", "PEM certificate(s) to trust for the DAV server, besides the system's")
	asJSON := fs.Bool("json", false, "print as JSON")
	files, err := parseFlags(fs, args, -1)
	if err != nil {
		return err
	}
	switch {
	case *to == "":
		return usagef("import %s: --to ADDRESS is required", noun)
	case *davURL == "" && len(files) == 0:
		return usagef("import %s: give files to import or --dav-url", noun)
	case *davURL != "" && len(files) > 0:
		return usagef("import %s: give files or --dav-url, not both", noun)
	}
	var client *davclient.Client
	var srcs []pim.Source
	if *davURL != "" {
		if client, err = davClient(e, *davUser, *davPWFile, *davCA); err != nil {
			return err
		}
	} else {
		for _, f := range files {
			data, err := readImportFile(f)
			if err != nil {
				return err
			}
			srcs = append(srcs, pim.Source{Name: f, Data: data})
		}
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		var results []*pim.Result
		var failed error
		switch {
		case client != nil:
			results, err = srv.PIM.ImportDAV(ctx, kind, *to, *name, client, *davURL)
		case kind == davclient.Calendars:
			var r *pim.Result
			r, err = srv.PIM.ImportCalendar(ctx, *to, *name, srcs...)
			results = []*pim.Result{r}
		default:
			var r *pim.Result
			r, err = srv.PIM.ImportContacts(ctx, *to, *name, srcs...)
			results = []*pim.Result{r}
		}
		if len(results) == 0 || results[0] == nil {
			return err
		}
		failed = err
		if *asJSON {
			if err := writeJSON(e.stdout, results); err != nil {
				return err
			}
			return failed
		}
		for _, r := range results {
			fmt.Fprintf(e.stdout, "%s of %s: %d imported, %d updated, %d skipped, %d errors\n", r.Collection, *to, r.Imported, r.Updated, r.Skipped, len(r.Errors))
			for _, ie := range r.Errors {
				fmt.Fprintf(e.stdout, "  error: %s\n", ie)
			}
			if failed == nil {
				failed = r.Failed()
			}
		}
		return failed
	})
}

// readImportFile reads a file to import ("-": standard input is not offered, files have
// names that errors cite), refusing one larger than an import may be.
func readImportFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, pim.MaxImportBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > pim.MaxImportBytes {
		return nil, fmt.Errorf("%s: larger than %d MB, the limit of one import", name, pim.MaxImportBytes>>20)
	}
	return data, nil
}

// davClient builds the DAV client; the password comes from a file, never the command line.
func davClient(e *env, user, pwFile, caFile string) (*davclient.Client, error) {
	if user == "" || pwFile == "" {
		return nil, usagef("--dav-url needs --dav-user and --dav-password-file")
	}
	pw, _, err := readPassword(e, pwFile, false)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &davclient.Client{HTTP: &http.Client{Timeout: 5 * time.Minute, Transport: tr}, User: user, Password: pw, MaxBytes: pim.MaxImportBytes}, nil
}

func contactsList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("contacts list")
	book := fs.String("book", "", "only this address book")
	q := fs.String("q", "", "part of a name, e-mail address, phone number or organisation")
	limit := fs.Int("limit", 500, "at most this many (up to 5000)")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		cs, err := srv.PIM.Contacts(ctx, pos[0], pim.ContactFilter{Book: *book, Text: *q, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, cs)
		}
		var rows [][]string
		for _, c := range cs {
			rows = append(rows, []string{c.FullName, dash(strings.Join(c.Emails, ",")), dash(strings.Join(c.Phones, ",")), dash(c.Org), c.Book})
		}
		table(e.stdout, []string{"NAME", "E-MAIL", "PHONE", "ORGANISATION", "BOOK"}, rows)
		return nil
	})
}

func contactsBooks(ctx context.Context, e *env, args []string) error {
	fs := newFlags("contacts books")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		bs, err := srv.PIM.AddressBooks(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, bs)
		}
		var rows [][]string
		for _, b := range bs {
			rows = append(rows, []string{b.Name, fmt.Sprint(b.Contacts), fmt.Sprint(b.Size), fmt.Sprint(b.CTag)})
		}
		table(e.stdout, []string{"BOOK", "CONTACTS", "BYTES", "CTAG"}, rows)
		return nil
	})
}

// parseDay reads a date (2026-12-01, midnight UTC) or an RFC 3339 time.
func parseDay(flag, v string) (time.Time, error) {
	t, ok := pim.ParseBound(v)
	if !ok {
		return t, usagef("--%s: %q is neither a date (2026-12-01) nor a time (2026-12-01T10:00:00Z)", flag, v)
	}
	return t, nil
}

func calendarList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("calendar list")
	cal := fs.String("calendar", "", "only this calendar")
	fromS := fs.String("from", "", "objects ending after this date or time (UTC)")
	toS := fs.String("to", "", "objects starting before this date or time (UTC)")
	limit := fs.Int("limit", 500, "at most this many (up to 5000)")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	from, err := parseDay("from", *fromS)
	if err != nil {
		return err
	}
	to, err := parseDay("to", *toS)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		objs, err := srv.PIM.CalendarObjects(ctx, pos[0], pim.ObjectFilter{Calendar: *cal, From: from, To: to, Limit: *limit})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, objs)
		}
		var rows [][]string
		for _, o := range objs {
			when := func(t *time.Time) string {
				switch {
				case t == nil:
					return "-"
				case o.AllDay:
					return t.Format("2006-01-02")
				}
				return t.Format("2006-01-02 15:04Z")
			}
			kind := "event"
			if o.Component == "VTODO" {
				kind = "task"
			}
			if o.Recurring {
				kind += " (recurring)"
			}
			rows = append(rows, []string{when(o.Start), when(o.End), kind, o.Summary, o.Calendar})
		}
		table(e.stdout, []string{"START", "END", "KIND", "SUMMARY", "CALENDAR"}, rows)
		return nil
	})
}

func calendarCalendars(ctx context.Context, e *env, args []string) error {
	fs := newFlags("calendar calendars")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		cs, err := srv.PIM.Calendars(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, cs)
		}
		var rows [][]string
		for _, c := range cs {
			rows = append(rows, []string{c.Name, fmt.Sprint(c.Objects), fmt.Sprint(c.Size), fmt.Sprint(c.CTag)})
		}
		table(e.stdout, []string{"CALENDAR", "OBJECTS", "BYTES", "CTAG"}, rows)
		return nil
	})
}

func contactsExport(ctx context.Context, e *env, args []string) error {
	return runExport(ctx, e, args, davclient.AddressBooks)
}

func calendarExport(ctx context.Context, e *env, args []string) error {
	return runExport(ctx, e, args, davclient.Calendars)
}

func runExport(ctx context.Context, e *env, args []string, kind davclient.Kind) error {
	noun, coll := "contacts", "book"
	if kind == davclient.Calendars {
		noun, coll = "calendar", "calendar"
	}
	fs := newFlags(noun + " export")
	name := fs.String(coll, "", "the "+coll+" to export (default: the account's default one)")
	out := fs.String("o", "", "output file (default standard output)")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		var data []byte
		if kind == davclient.Calendars {
			data, err = srv.PIM.ExportCalendar(ctx, pos[0], *name)
		} else {
			data, err = srv.PIM.ExportContacts(ctx, pos[0], *name)
		}
		if err != nil {
			return err
		}
		return writeOutput(e, *out, data)
	})
}
