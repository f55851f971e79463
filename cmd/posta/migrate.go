package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/migrate"
	"github.com/postamail/posta/internal/server"
)

func migrateCommands() map[string]command {
	return map[string]command{
		"imap":   {"queue an IMAP migration from another provider: --to ADDRESS --source-host H [--source-port P] [--source-tls implicit|starttls|none] --source-user U --source-password-file F [--dry-run] [--wait]", migrateIMAP},
		"bulk":   {"queue one migration per row of a spreadsheet (source host, user, password, destination address): FILE --tenant T [--source-tls ...] [--dry-run] [--wait]", migrateBulk},
		"list":   {"list migrations: [--tenant T] [--status S]", migrateList},
		"show":   {"show a migration with its progress: ID", migrateShow},
		"cancel": {"stop a migration (what was copied stays; a new job resumes): ID", migrateCancel},
		"report": {"a migration's report per account: ID [--format json|csv]", migrateReport},
	}
}

func withMigrate(ctx context.Context, e *env, fn func(ctx context.Context, m *migrate.Service) error) error {
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		return fn(ctx, srv.Migrate)
	})
}

// sourceFlags are the flags shared by imap and bulk.
type sourceFlags struct {
	tls                             *string
	allowPlain, dryRun, force, wait *bool
	maxRate                         *int64
	maxMsgs                         *int
}

func addSourceFlags(fs interface {
	String(string, string, string) *string
	Bool(string, bool, string) *bool
	Int64(string, int64, string) *int64
	Int(string, int, string) *int
}) sourceFlags {
	return sourceFlags{
		tls:        fs.String("source-tls", "implicit", "implicit (port 993), starttls (143) or none (needs --allow-plaintext)"),
		allowPlain: fs.Bool("allow-plaintext", false, "allow --source-tls none: the source password crosses the network in clear"),
		dryRun:     fs.Bool("dry-run", false, "only the pre-flight report: nothing is copied"),
		force:      fs.Bool("force", false, "copy even if the destination's quota is too small for everything"),
		wait:       fs.Bool("wait", false, "wait for the end, printing the progress (posta serve runs the job)"),
		maxRate:    fs.Int64("max-bytes-per-sec", 0, "bandwidth limit of the job (0: none)"),
		maxMsgs:    fs.Int("max-msgs-per-sec", 0, "message rate limit of the job (0: none)"),
	}
}

func (sf sourceFlags) apply(r *migrate.Request) {
	r.SourceTLS, r.AllowPlaintext, r.DryRun, r.Force = *sf.tls, *sf.allowPlain, *sf.dryRun, *sf.force
	r.MaxBytesPerSec, r.MaxMsgsPerSec = *sf.maxRate, *sf.maxMsgs
}

func migrateIMAP(ctx context.Context, e *env, args []string) error {
	fs := newFlags("migrate imap")
	to := fs.String("to", "", "the destination account (address)")
	host := fs.String("source-host", "", "the source IMAP server")
	port := fs.Int("source-port", 0, "the source port (default 993, or 143 with starttls or none)")
	user := fs.String("source-user", "", "the login on the source (an administrator's with --source-authz)")
	authz := fs.String("source-authz", "", "the user to act as, when --source-user is an administrator of the source (SASL PLAIN authorisation identity)")
	pwFile := fs.String("source-password-file", "", "file holding the source password (- for standard input)")
	asJSON := fs.Bool("json", false, "print as JSON")
	sf := addSourceFlags(fs)
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *to == "":
		return usagef("--to ADDRESS is required")
	case *host == "":
		return usagef("--source-host is required")
	case *user == "":
		return usagef("--source-user is required")
	case *pwFile == "":
		return usagef("--source-password-file FILE is required (- for standard input); passwords are never taken from the command line")
	}
	pw, _, err := readPassword(e, *pwFile, false)
	if err != nil {
		return err
	}
	r := migrate.Request{Address: *to, SourceHost: *host, SourcePort: *port, SourceUser: *user, SourceAuthz: *authz, SourcePassword: pw}
	sf.apply(&r)
	return withMigrate(ctx, e, func(ctx context.Context, m *migrate.Service) error {
		j, err := m.Create(ctx, r)
		if err != nil {
			return err
		}
		if !*sf.wait {
			if *asJSON {
				return writeJSON(e.stdout, j)
			}
			fmt.Fprintf(e.stdout, "migration %d queued: %s from %s@%s (posta serve runs it; follow it with posta migrate show %d)\n", j.ID, j.Address, j.SourceUser, j.SourceHost, j.ID)
			return nil
		}
		err = waitJobs(ctx, e, m, []int64{j.ID}, *asJSON)
		if err == nil && r.DryRun && !*asJSON {
			rep, err := m.Report(ctx, j.ID)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout)
			printReport(e.stdout, rep)
		}
		return err
	})
}

func migrateBulk(ctx context.Context, e *env, args []string) error {
	fs := newFlags("migrate bulk")
	tenant := fs.String("tenant", "", "the tenant whose accounts receive the mail")
	asJSON := fs.Bool("json", false, "print as JSON")
	sf := addSourceFlags(fs)
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("--tenant is required")
	}
	data, err := readFileArg(e, pos[0])
	if err != nil {
		return err
	}
	var def migrate.Request
	sf.apply(&def)
	return withMigrate(ctx, e, func(ctx context.Context, m *migrate.Service) error {
		res, err := m.Bulk(ctx, *tenant, data, def)
		if err != nil {
			if res != nil && len(res.Problems) > 0 {
				for _, p := range res.Problems {
					fmt.Fprintf(e.stderr, "row %d: %s\n", p.Row, p.String())
				}
				return fmt.Errorf("the file has %d problems; nothing was queued", len(res.Problems))
			}
			return err
		}
		ids := make([]int64, len(res.Jobs))
		for i, j := range res.Jobs {
			ids[i] = j.ID
		}
		if *sf.wait {
			return waitJobs(ctx, e, m, ids, *asJSON)
		}
		if *asJSON {
			return writeJSON(e.stdout, res)
		}
		for _, j := range res.Jobs {
			fmt.Fprintf(e.stdout, "migration %d queued: %s from %s@%s\n", j.ID, j.Address, j.SourceUser, j.SourceHost)
		}
		return nil
	})
}

// readFileArg reads a file named on the command line ("-" for standard input).
func readFileArg(e *env, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(io.LimitReader(e.stdin, 64<<20))
	}
	return os.ReadFile(name)
}

// progressLine is one line of a job's progress.
func progressLine(j *migrate.Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "migration %d %s: %s", j.ID, j.Address, j.Status)
	if j.Phase != "" {
		fmt.Fprintf(&b, " (%s)", j.Phase)
	}
	if j.MsgsTotal > 0 || j.Copied > 0 {
		fmt.Fprintf(&b, ", %d/%d messages, %s/%s", j.MsgsDone, j.MsgsTotal, fmtMB(j.BytesDone), fmtMB(j.BytesTotal))
	}
	if j.RateMsgsPerSec > 0 {
		fmt.Fprintf(&b, ", %.0f msg/s %s/s", j.RateMsgsPerSec, fmtMB(j.RateBytesPerSec))
	}
	if j.ETASeconds > 0 {
		fmt.Fprintf(&b, ", ETA %s", (time.Duration(j.ETASeconds) * time.Second).String())
	}
	if j.Finished() {
		fmt.Fprintf(&b, "; copied %d (%s), skipped %d, failed %d, flags synced %d", j.Copied, fmtMB(j.CopiedBytes), j.Skipped, j.Failed, j.FlagsSynced)
	}
	if j.Error != "" {
		fmt.Fprintf(&b, "; %s: %s", j.ErrorKind, j.Error)
	}
	return b.String()
}

// waitJobs polls jobs until they end, printing their progress; it fails when one failed.
func waitJobs(ctx context.Context, e *env, m *migrate.Service, ids []int64, asJSON bool) error {
	last := map[int64]string{}
	start := time.Now()
	hinted := false
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var jobs []*migrate.Job
		all, queued := true, true
		for _, id := range ids {
			j, err := m.Get(ctx, id)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			if !j.Finished() {
				all = false
			}
			if j.Status != migrate.StatusQueued {
				queued = false
			}
			if line := progressLine(j); !asJSON && line != last[id] {
				fmt.Fprintln(e.stdout, line)
				last[id] = line
			}
		}
		if all {
			if asJSON {
				return writeJSON(e.stdout, jobs)
			}
			failed := 0
			for _, j := range jobs {
				if j.Status != migrate.StatusDone {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d migrations did not complete (posta migrate report ID tells why)", failed, len(jobs))
			}
			return nil
		}
		if queued && !hinted && time.Since(start) > 30*time.Second {
			fmt.Fprintln(e.stderr, "posta: still queued after 30 s: is posta serve running on this data directory?")
			hinted = true
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.stderr, "posta: stopped waiting; the migration goes on in posta serve")
			return ctx.Err()
		case <-t.C:
		}
	}
}

func migrateList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("migrate list")
	tenant := fs.String("tenant", "", "only this tenant's migrations")
	status := fs.String("status", "", "only migrations in this status (queued, running, done, failed, cancelled)")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withMigrate(ctx, e, func(ctx context.Context, m *migrate.Service) error {
		jobs, err := m.List(ctx, migrate.Filter{Tenant: *tenant, Status: *status})
		if err != nil {
			return err
		}
		if *asJSON {
			if jobs == nil {
				jobs = []*migrate.Job{}
			}
			return writeJSON(e.stdout, jobs)
		}
		var rows [][]string
		for _, j := range jobs {
			rows = append(rows, []string{strconv.FormatInt(j.ID, 10), j.Address, j.SourceUser + "@" + j.SourceHost, j.Status,
				fmt.Sprintf("%d/%d", j.MsgsDone, j.MsgsTotal), strconv.FormatInt(j.Copied, 10), strconv.FormatInt(j.Skipped, 10), strconv.FormatInt(j.Failed, 10), fmtTime(j.CreatedAt)})
		}
		table(e.stdout, []string{"ID", "DESTINATION", "SOURCE", "STATUS", "PROGRESS", "COPIED", "SKIPPED", "FAILED", "CREATED"}, rows)
		return nil
	})
}

func jobArg(fs interface{ Name() string }, pos []string) (int64, error) {
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil {
		return 0, usagef("%s: ID must be a number, got %q", fs.Name(), pos[0])
	}
	return id, nil
}

func migrateShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags("migrate show")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := jobArg(fs, pos)
	if err != nil {
		return err
	}
	return withMigrate(ctx, e, func(ctx context.Context, m *migrate.Service) error {
		j, err := m.Get(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, j)
		}
		fmt.Fprintln(e.stdout, progressLine(j))
		return nil
	})
}

func migrateCancel(ctx context.Context, e *env, args []string) error {
	fs := newFlags("migrate cancel")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := jobArg(fs, pos)
	if err != nil {
		return err
	}
	return withMigrate(ctx, e, func(ctx context.Context, m *migrate.Service) error {
		j, err := m.Cancel(ctx, id)
		if err != nil {
			return err
		}
		if j.Status == migrate.StatusCancelled {
			fmt.Fprintf(e.stdout, "migration %d cancelled\n", id)
		} else {
			fmt.Fprintf(e.stdout, "migration %d stops within seconds\n", id)
		}
		return nil
	})
}

func migrateReport(ctx context.Context, e *env, args []string) error {
	fs := newFlags("migrate report")
	format := fs.String("format", "text", "text, json or csv")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := jobArg(fs, pos)
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" && *format != "csv" {
		return usagef("--format must be text, json or csv")
	}
	return withMigrate(ctx, e, func(ctx context.Context, m *migrate.Service) error {
		rep, err := m.Report(ctx, id)
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			return writeJSON(e.stdout, rep)
		case "csv":
			return rep.WriteCSV(e.stdout)
		}
		printReport(e.stdout, rep)
		return nil
	})
}

// printReport writes a report for people: the outcome, the plan per folder, and every message
// skipped or not copied.
func printReport(w io.Writer, rep *migrate.Report) {
	fmt.Fprintln(w, progressLine(rep.Job))
	fmt.Fprintf(w, "duration %.1f s\n", rep.DurationSeconds)
	if p := rep.Plan; p != nil {
		quota := "no quota"
		if p.QuotaBytes > 0 {
			quota = fmt.Sprintf("quota %s, used %s, needed %s", fmtMB(p.QuotaBytes), fmtMB(p.UsedBytes), fmtMB(p.NeededBytes))
			if !p.QuotaSufficient {
				quota += fmt.Sprintf(": %d MB short", p.ShortfallMB)
			}
		}
		fmt.Fprintf(w, "size limit %s, %s\n\n", fmtMB(p.SizeLimit), quota)
		var rows [][]string
		for _, f := range p.Folders {
			dest := f.Dest
			if f.Skip != "" {
				dest = "(not copied: " + f.Skip + ")"
			}
			rows = append(rows, []string{f.Source, dest, strconv.FormatInt(f.Messages, 10), fmtMB(f.Bytes), strconv.FormatInt(f.ToCopy, 10),
				strconv.FormatInt(f.AlreadyCopied, 10), strconv.FormatInt(f.TooLarge, 10), strconv.FormatInt(f.Copied, 10), strconv.FormatInt(f.Failed, 10)})
		}
		table(w, []string{"FOLDER", "DESTINATION", "MESSAGES", "SIZE", "TO COPY", "ALREADY", "TOO LARGE", "COPIED", "FAILED"}, rows)
	}
	if len(rep.Items) > 0 {
		fmt.Fprintln(w)
		var rows [][]string
		for _, it := range rep.Items {
			rows = append(rows, []string{it.Folder, strconv.FormatUint(uint64(it.UID), 10), it.Outcome, it.Reason, fmtMB(it.Size), it.Subject, it.Detail})
		}
		table(w, []string{"FOLDER", "UID", "OUTCOME", "REASON", "SIZE", "SUBJECT", "DETAIL"}, rows)
	}
}
