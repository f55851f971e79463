package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/autoconfig"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/provision"
	"github.com/postamail/posta/internal/server"
)

func provisionCommands() map[string]command {
	return map[string]command{
		"template": {"write the spreadsheet template: [--tenant T] [--format xlsx|csv] [--lang en|it] [-o FILE]", provisionTemplate},
		"import":   {"create and update accounts from a spreadsheet: FILE [--tenant T] [--dry-run] [--partial] [--report FILE] [--welcome] [--lang it|en]", provisionImport},
		"export":   {"write the tenant's accounts in the template's format (no passwords): [--tenant T] [--format xlsx|csv] [--lang en|it] [-o FILE]", provisionExport},
	}
}

// withProvision opens the installation and runs fn with the provisioning service.
func withProvision(ctx context.Context, e *env, fn func(ctx context.Context, srv *server.Server, p *provision.Service) error) error {
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, dir *directory.Service) error {
		p := provision.New(dir, provision.Options{Sender: srv.Deliver, Client: autoconfig.FromConfig(srv.Config), Logger: srv.Log})
		return fn(ctx, srv, p)
	})
}

// tenantOrOnly returns the tenant named, or the only tenant when none is named.
func tenantOrOnly(ctx context.Context, dir *directory.Service, name string) (string, error) {
	if name != "" {
		t, err := dir.GetTenant(ctx, name)
		if err != nil {
			return "", err
		}
		return t.Name, nil
	}
	ts, err := dir.ListTenants(ctx)
	if err != nil {
		return "", err
	}
	if len(ts) == 1 {
		return ts[0].Name, nil
	}
	return "", usagef("name the tenant with --tenant (there are %d)", len(ts))
}

// writeOutput writes data to the file, or to standard output when file is "" or "-".
func writeOutput(e *env, file string, data []byte) error {
	if file == "" || file == "-" {
		_, err := e.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s (%d bytes)\n", file, len(data))
	return nil
}

// formatFor is the format given, or the one the output file's extension names.
func formatFor(flagValue, file string) (provision.Format, error) {
	if flagValue == "" && strings.EqualFold(filepath.Ext(file), ".csv") {
		return provision.CSV, nil
	}
	f, err := provision.ParseFormat(flagValue)
	if err != nil {
		return "", usagef("%v", err)
	}
	return f, nil
}

func checkLang(l string) error {
	if l != "en" && l != "it" {
		return usagef("--lang must be en or it, got %q", l)
	}
	return nil
}

// sheetArgs are the flags of the commands that write a spreadsheet for a tenant.
type sheetArgs struct {
	tenant, lang, out string
	format            provision.Format
}

// parseSheetArgs reads them; tenantHelp says what the tenant is for.
func parseSheetArgs(name, tenantHelp string, args []string) (sheetArgs, error) {
	fs := newFlags(name)
	tenant := fs.String("tenant", "", tenantHelp)
	format := fs.String("format", "", "xlsx (default) or csv")
	lang := fs.String("lang", "en", "language of the headers: en or it")
	out := fs.String("o", "", "output file (default standard output)")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return sheetArgs{}, err
	}
	f, err := formatFor(*format, *out)
	if err != nil {
		return sheetArgs{}, err
	}
	if err := checkLang(*lang); err != nil {
		return sheetArgs{}, err
	}
	return sheetArgs{tenant: *tenant, lang: *lang, out: *out, format: f}, nil
}

func provisionTemplate(ctx context.Context, e *env, args []string) error {
	a, err := parseSheetArgs("provision template", "tenant whose domains and classes of service the template lists", args)
	if err != nil {
		return err
	}
	f := a.format
	return withProvision(ctx, e, func(ctx context.Context, srv *server.Server, p *provision.Service) error {
		t, err := tenantOrOnly(ctx, srv.Directory, a.tenant)
		if err != nil {
			return err
		}
		data, err := p.Template(ctx, t, f, a.lang)
		if err != nil {
			return err
		}
		if f == provision.CSV {
			// A CSV file has one sheet: name the domains and classes of service here.
			st, err := srv.Directory.BatchState(ctx, t)
			if err != nil {
				return err
			}
			var doms, cos []string
			for _, d := range st.Domains {
				if d.AliasOf == "" {
					doms = append(doms, d.Name)
				}
			}
			for _, c := range st.AllowedCOS() {
				cos = append(cos, c.Name)
			}
			fmt.Fprintf(e.stderr, "domains of %s: %s\nclasses of service: %s\n", t, strings.Join(doms, ", "), strings.Join(cos, ", "))
		}
		return writeOutput(e, a.out, data)
	})
}

func provisionExport(ctx context.Context, e *env, args []string) error {
	a, err := parseSheetArgs("provision export", "tenant to export", args)
	if err != nil {
		return err
	}
	return withProvision(ctx, e, func(ctx context.Context, srv *server.Server, p *provision.Service) error {
		t, err := tenantOrOnly(ctx, srv.Directory, a.tenant)
		if err != nil {
			return err
		}
		data, err := p.Export(ctx, t, a.format, a.lang)
		if err != nil {
			return err
		}
		return writeOutput(e, a.out, data)
	})
}

func provisionImport(ctx context.Context, e *env, args []string) error {
	fs := newFlags("provision import")
	tenant := fs.String("tenant", "", "tenant the accounts belong to")
	dryRun := fs.Bool("dry-run", false, "validate and show what would change; write nothing")
	partial := fs.Bool("partial", false, "apply the valid rows even when others have errors")
	report := fs.String("report", "", "write the outcome of every row (and generated passwords) to this .xlsx or .csv file")
	welcome := fs.Bool("welcome", false, "send the welcome message with the client settings to every new account")
	lang := fs.String("lang", "it", "language of the welcome message (and the report) where the row names none: it or en")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if err := checkLang(*lang); err != nil {
		return err
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(io.LimitReader(e.stdin, provision.MaxFileBytes+1))
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pos[0], err)
	}
	return withProvision(ctx, e, func(ctx context.Context, srv *server.Server, p *provision.Service) error {
		t, err := tenantOrOnly(ctx, srv.Directory, *tenant)
		if err != nil {
			return err
		}
		res, err := p.Import(ctx, t, data, provision.ImportOptions{DryRun: *dryRun, Partial: *partial, Welcome: *welcome,
			Language: *lang, Source: filepath.Base(pos[0])})
		if err != nil {
			return err
		}
		if *report != "" {
			f, _ := formatFor("", *report)
			out, err := res.Report(f, *lang)
			if err != nil {
				return err
			}
			if err := os.WriteFile(*report, out, 0o600); err != nil {
				return err
			}
		}
		if *asJSON {
			if err := writeJSON(e.stdout, res); err != nil {
				return err
			}
		} else {
			printResult(e.stdout, res)
			if *report != "" {
				fmt.Fprintf(e.stdout, "report: %s\n", *report)
			}
		}
		switch {
		case res.Refused != "":
			return fmt.Errorf("import refused: %s", res.Refused)
		case res.DryRun && res.Summary.Errors > 0:
			return fmt.Errorf("%d rows have errors", res.Summary.Errors)
		}
		return nil
	})
}

// printResult prints the diff or outcome: a line per row that changes or fails, then the
// summary.
func printResult(w io.Writer, res *provision.Result) {
	var rows [][]string
	for _, r := range res.Rows {
		if r.Action == provision.ActUnchanged {
			continue
		}
		detail := strings.Join(r.Changes, "; ")
		if len(r.Problems) > 0 {
			var ps []string
			for _, p := range r.Problems {
				ps = append(ps, p.String())
			}
			detail = strings.Join(ps, "; ")
		}
		state := string(r.Action)
		if r.Applied {
			state += "d"
		}
		row := []string{strconv.Itoa(r.Row), state, r.Address, detail}
		if r.Password != "" {
			row[3] += "; password: " + r.Password
		}
		if r.Welcome != "" {
			row[3] += "; welcome " + r.Welcome
		}
		rows = append(rows, row)
	}
	if len(rows) > 0 {
		table(w, []string{"ROW", "ACTION", "ADDRESS", "DETAIL"}, rows)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(res.ListsCreated) > 0 {
		verb := "lists created"
		if !res.Applied {
			verb = "lists to create"
		}
		fmt.Fprintf(w, "%s: %s\n", verb, strings.Join(res.ListsCreated, ", "))
	}
	for _, c := range res.Caps {
		capS := "no cap"
		if c.Cap >= 0 {
			capS = "cap " + strconv.Itoa(c.Cap)
		}
		fmt.Fprintf(w, "%s: %d in use, %d after (%s)\n", c.COS, c.InUse, c.After, capS)
	}
	s := res.Summary
	mode := "applied"
	switch {
	case res.DryRun:
		mode = "dry run, nothing written"
	case res.Refused != "":
		mode = "refused, nothing written"
	case !res.Applied:
		mode = "nothing to change"
	case res.Partial && s.Errors > 0:
		mode = "applied the valid rows"
	}
	fmt.Fprintf(w, "%d rows: %d create, %d update, %d unchanged, %d errors (%s)\n", s.Rows, s.Create, s.Update, s.Unchanged, s.Errors, mode)
	if res.Welcome > 0 {
		fmt.Fprintf(w, "welcome messages sent: %d\n", res.Welcome)
	}
}
