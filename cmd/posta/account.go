package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func accountCommands() map[string]command {
	return map[string]command{
		"add":                 {"create an account: ADDRESS --cos COS [--name NAME] (--password-file F | --generate-password)", accountAdd},
		"list":                {"list accounts [--tenant] [--domain] [--cos] [--status] [--search TEXT] [--limit] [--offset]", accountList},
		"show":                {"show an account: ADDRESS", accountShow},
		"update":              {"change an account: ADDRESS [--name] [--cos] [--status active|locked|closed] [--forward A,B] [--forward-keep]", accountUpdate},
		"passwd":              {"set an account's password: ADDRESS (--password-file F | --generate-password)", accountPasswd},
		"remove":              {"delete an account and its mail: ADDRESS", accountRemove},
		"app-password-add":    {"create a password for one mail client: ADDRESS NAME (prints it once)", appPasswordAdd},
		"app-password-list":   {"list an account's app passwords: ADDRESS", appPasswordList},
		"app-password-revoke": {"revoke an app password: ADDRESS ID", appPasswordRevoke},
		"sending":             {"mail submitted per account today and over the last days [--tenant T] [--days 7]", accountSending},
	}
}

func accountAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account add")
	cos := fs.String("cos", "", "class of service, by name or id (required)")
	name := fs.String("name", "", "display name")
	pwFile := fs.String("password-file", "", "file holding the password (- for standard input)")
	gen := fs.Bool("generate-password", false, "generate a password and print it once")
	status := fs.String("status", "active", "active or locked")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *cos == "" {
		return usagef("account add: --cos is required (see posta cos list)")
	}
	pw, generated, err := readPassword(e, *pwFile, *gen)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		a, err := dir.CreateAccount(ctx, directory.AccountSpec{Address: pos[0], Password: pw, DisplayName: *name, COS: *cos, Status: *status})
		if err != nil {
			return err
		}
		if *asJSON {
			out := struct {
				*directory.Account
				Password string `json:"password,omitempty"`
			}{Account: a}
			if generated {
				out.Password = pw
			}
			return writeJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "account %s created (%s, quota %s)\n", a.Address, a.COS, fmtMB(a.QuotaBytes))
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n(shown only now)\n", pw)
		}
		return nil
	})
}

func accountList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account list")
	var f directory.AccountFilter
	fs.StringVar(&f.Tenant, "tenant", "", "tenant name or id")
	fs.StringVar(&f.Domain, "domain", "", "domain")
	fs.StringVar(&f.COS, "cos", "", "class of service")
	fs.StringVar(&f.Status, "status", "", "active, locked or closed")
	fs.StringVar(&f.Text, "search", "", "text in the address or display name")
	fs.IntVar(&f.Limit, "limit", 100, "page size (at most 1000)")
	fs.IntVar(&f.Offset, "offset", 0, "skip this many")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		as, total, err := dir.ListAccounts(ctx, f)
		if err != nil {
			return err
		}
		if *asJSON {
			if as == nil {
				as = []*directory.Account{}
			}
			return writeJSON(e.stdout, struct {
				Total    int                  `json:"total"`
				Accounts []*directory.Account `json:"accounts"`
			}{total, as})
		}
		var rows [][]string
		for _, a := range as {
			rows = append(rows, []string{a.Address, a.DisplayName, a.COS, a.Status, fmtMB(a.UsedBytes) + " / " + fmtMB(a.QuotaBytes), fmtTime(a.LastLoginAt)})
		}
		table(e.stdout, []string{"ADDRESS", "NAME", "CLASS OF SERVICE", "STATUS", "USED", "LAST LOGIN"}, rows)
		fmt.Fprintf(e.stdout, "%d of %d\n", len(as), total)
		return nil
	})
}

func accountSending(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account sending")
	tenant := fs.String("tenant", "", "tenant name or id")
	days := fs.Int("days", 7, "the period, in days up to today (1 to 90)")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		st, err := dir.SendingStats(ctx, *tenant, *days)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, st)
		}
		var rows [][]string
		for _, x := range st {
			limit := "-"
			if x.LimitPerDay > 0 {
				limit = strconv.Itoa(x.LimitPerDay)
			}
			rows = append(rows, []string{x.Address, x.COS, fmt.Sprintf("%d (%d rcpts)", x.Today, x.TodayRecipients), limit, fmt.Sprintf("%d (%d rcpts)", x.Period, x.PeriodRecipients)})
		}
		table(e.stdout, []string{"ADDRESS", "CLASS OF SERVICE", "TODAY", "DAILY LIMIT", fmt.Sprintf("LAST %d DAYS", *days)}, rows)
		return nil
	})
}

func accountShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account show")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		a, err := dir.GetAccount(ctx, pos[0])
		if err != nil {
			return err
		}
		aliases, err := dir.ListAliases(ctx, a.Address, "")
		if err != nil {
			return err
		}
		names := []string{}
		for _, al := range aliases {
			names = append(names, al.Address)
		}
		if *asJSON {
			return writeJSON(e.stdout, struct {
				*directory.Account
				Aliases []string `json:"aliases"`
			}{a, names})
		}
		fmt.Fprintf(e.stdout, "Address:   %s\nName:      %s\nClass:     %s (%s)\nStatus:    %s\nUsage:     %s of %s, %d messages\nAliases:   %s\nForward:   %s\nCreated:   %s\nLast login %s\n",
			a.Address, a.DisplayName, a.COS, strings.Join(a.Features, ", "), a.Status, fmtMB(a.UsedBytes), fmtMB(a.QuotaBytes), a.UsedMessages,
			dash(strings.Join(names, ", ")), dash(strings.Join(a.ForwardTo, ", ")), fmtTime(a.CreatedAt), fmtTime(a.LastLoginAt))
		return nil
	})
}

func accountUpdate(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account update")
	name := fs.String("name", "", "display name")
	cos := fs.String("cos", "", "class of service")
	status := fs.String("status", "", "active, locked or closed")
	forward := fs.String("forward", "", "forwarding addresses, comma separated (empty: none)")
	keep := fs.Bool("forward-keep", true, "keep a copy of forwarded mail")
	dryRun := fs.Bool("dry-run", false, "with --cos: show what the change would do, change nothing")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	set := visited(fs)
	u := directory.AccountUpdate{DisplayName: optString(set, "name", *name), COS: optString(set, "cos", *cos), Status: optString(set, "status", *status)}
	if set["forward"] {
		list := strings.Split(*forward, ",")
		u.ForwardTo = &list
	}
	if set["forward-keep"] {
		u.ForwardKeep = keep
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if u.COS != nil {
			p, err := dir.PreviewCOSChange(ctx, pos[0], *u.COS)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "class of service: %s -> %s; quota %s (used %s)\n", p.From, p.To, fmtMB(p.QuotaBytes), fmtMB(p.UsedBytes))
			if len(p.FeaturesLost) > 0 {
				fmt.Fprintf(e.stdout, "features lost: %s\n", strings.Join(p.FeaturesLost, ", "))
			}
			if len(p.FeaturesGained) > 0 {
				fmt.Fprintf(e.stdout, "features gained: %s\n", strings.Join(p.FeaturesGained, ", "))
			}
			if *dryRun {
				if p.Refused {
					return fmt.Errorf("the change would be refused: %s", p.Reason)
				}
				return nil
			}
		}
		a, err := dir.UpdateAccount(ctx, pos[0], u)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account %s updated\n", a.Address)
		return nil
	})
}

func accountPasswd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account passwd")
	pwFile := fs.String("password-file", "", "file holding the password (- for standard input)")
	gen := fs.Bool("generate-password", false, "generate a password and print it once")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	pw, generated, err := readPassword(e, *pwFile, *gen)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.SetPassword(ctx, pos[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password of %s changed\n", pos[0])
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n(shown only now)\n", pw)
		}
		return nil
	})
}

func accountRemove(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account remove")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.RemoveAccount(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "account %s removed\n", pos[0])
		return nil
	})
}

func appPasswordAdd(ctx context.Context, e *env, args []string) error {
	pos, err := parseFlags(newFlags("account app-password-add"), args, 2)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		secret, p, err := dir.CreateAppPassword(ctx, pos[0], pos[1], func() string { return auth.GeneratePassword(20) })
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "app password %d (%s) for %s; it is shown only now:\n%s\n", p.ID, p.Name, pos[0], secret)
		return nil
	})
}

func appPasswordList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("account app-password-list")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		ps, err := dir.ListAppPasswords(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, ps)
		}
		var rows [][]string
		for _, p := range ps {
			used := "never"
			if p.LastUsedAt != 0 {
				used = time.UnixMilli(p.LastUsedAt).Format(time.DateTime)
			}
			rows = append(rows, []string{strconv.FormatInt(p.ID, 10), p.Name, used})
		}
		table(e.stdout, []string{"ID", "NAME", "LAST USED"}, rows)
		return nil
	})
}

func appPasswordRevoke(ctx context.Context, e *env, args []string) error {
	pos, err := parseFlags(newFlags("account app-password-revoke"), args, 2)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil {
		return usagef("app-password-revoke: ID must be a number, got %q", pos[1])
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.RevokeAppPassword(ctx, pos[0], id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "app password %d of %s revoked\n", id, pos[0])
		return nil
	})
}
