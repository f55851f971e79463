package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/billing"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func billingCommands() map[string]command {
	return map[string]command{
		"prices":         {"the price list: prices list | prices set COS POINTS_PER_DAY [--from DATE]", billingPrices},
		"recharge":       {"record a recharge: TENANT --eur AMOUNT --ref REFERENCE [--date YYYY-MM-DD] [--reason R]", billingRecharge},
		"adjust":         {"record an adjustment or refund: TENANT --points P --reason R [--refund] [--ref R]", billingAdjust},
		"run":            {"charge every day not yet charged up to --date (default yesterday)", billingRun},
		"balance":        {"a tenant's balance, daily burn and days remaining: TENANT", billingBalance},
		"ledger":         {"a tenant's ledger: TENANT [--from DATE] [--to DATE] [--csv | --xlsx FILE]", billingLedger},
		"usage":          {"a tenant's consumption: TENANT [--by day|cos|account] [--from DATE] [--to DATE] [--csv | --xlsx FILE]", billingUsage},
		"statement":      {"a tenant's monthly statement: TENANT --month YYYY-MM", billingStatement},
		"settings":       {"show the billing settings, or change one: [KEY VALUE]", billingSettings},
		"webhook-secret": {"set a new secret for the payment webhook and print it once", billingWebhookSecret},
		"verify":         {"check every wallet against its ledger", billingVerify},
	}
}

func withBilling(ctx context.Context, e *env, fn func(ctx context.Context, b *billing.Service) error) error {
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		return fn(ctx, srv.Billing)
	})
}

func billingPrices(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing prices")
	from := fs.String("from", "", "the first day of the new price, YYYY-MM-DD (default today)")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("billing prices: list, or set COS POINTS_PER_DAY [--from DATE]")
	}
	switch pos[0] {
	case "list":
		if len(pos) != 1 {
			return usagef("billing prices list takes no argument")
		}
		return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
			ls, err := b.Prices(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, ls)
			}
			var rows [][]string
			for _, l := range ls {
				cur, since, next := "-", "", ""
				if l.Current != nil {
					cur, since = l.Current.PerDay.String(), l.Current.From.String()
				}
				if l.Next != nil {
					next = l.Next.PerDay.String() + " from " + l.Next.From.String()
				}
				rows = append(rows, []string{l.COS, cur, since, next})
			}
			table(e.stdout, []string{"COS", "POINTS/DAY", "SINCE", "NEXT"}, rows)
			return nil
		})
	case "set":
		if len(pos) != 3 {
			return usagef("billing prices set COS POINTS_PER_DAY [--from DATE]")
		}
		p, err := billing.ParsePoints(pos[2])
		if err != nil {
			return usagef("POINTS_PER_DAY: %v", err)
		}
		return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
			pr, err := b.SetPrice(ctx, pos[1], p, *from)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, pr)
			}
			fmt.Fprintf(e.stdout, "%s: %s points a day from %s\n", pr.COS, pr.PerDay, pr.From)
			return nil
		})
	}
	return usagef("billing prices: unknown action %q (list or set)", pos[0])
}

func printMovement(e *env, m *billing.Movement) {
	extra := ""
	if m.EUR != "" {
		extra = fmt.Sprintf(" (%s EUR at %d points/EUR)", m.EUR, m.PointsPerEUR)
	}
	dup := ""
	if m.Duplicate {
		dup = " (already recorded)"
	}
	fmt.Fprintf(e.stdout, "%s #%d of %s: %s points%s, balance %s%s\n", m.Kind, m.Seq, m.Day, m.Amount, extra, m.BalanceAfter, dup)
}

func billingRecharge(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing recharge")
	eur := fs.String("eur", "", "amount in euro, e.g. 100 or 99.90")
	ref := fs.String("ref", "", "payment reference (bank transfer CRO/TRN)")
	date := fs.String("date", "", "value date YYYY-MM-DD (default today)")
	reason := fs.String("reason", "", "a note")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *eur == "" || *ref == "" {
		return usagef("billing recharge TENANT --eur AMOUNT --ref REFERENCE")
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		m, err := b.Recharge(ctx, billing.RechargeSpec{Tenant: pos[0], EUR: *eur, Reference: *ref, Date: *date, Reason: *reason})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, m)
		}
		printMovement(e, m)
		return nil
	})
}

func billingAdjust(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing adjust")
	points := fs.String("points", "", "points, negative to debit")
	reason := fs.String("reason", "", "why (required)")
	refund := fs.Bool("refund", false, "record a refund rather than an adjustment")
	ref := fs.String("ref", "", "a reference")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	p, err := billing.ParsePoints(*points)
	if err != nil {
		return usagef("--points: %v", err)
	}
	kind := billing.KindAdjustment
	if *refund {
		kind = billing.KindRefund
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		m, err := b.Adjust(ctx, pos[0], kind, p, *reason, *ref)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, m)
		}
		printMovement(e, m)
		return nil
	})
}

func billingRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing run")
	date := fs.String("date", "", "the last day to charge, YYYY-MM-DD (default yesterday, UTC)")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		r, err := b.Run(ctx, *date)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, r)
		}
		fmt.Fprintf(e.stdout, "charged through %s: %d tenant-days, %s points, %d warnings sent (%d tenants settled, %d ms)\n",
			r.Through, r.Days, r.Charged, r.Warnings, r.Tenants, r.DurationMS)
		return nil
	})
}

func billingBalance(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing balance")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		w, err := b.Balance(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, w)
		}
		fmt.Fprintf(e.stdout, "Tenant:      %s (%s)\n", w.Tenant, w.Contract)
		if !w.Charged {
			fmt.Fprintf(e.stdout, "Not charged (subscription); services at list price: %s points a day, %d accounts\n", w.DailyBurn, w.Accounts)
			return nil
		}
		days := "no use"
		if w.DaysRemaining >= 0 {
			days = strconv.FormatInt(w.DaysRemaining, 10)
		}
		fmt.Fprintf(e.stdout, "Balance:     %s points (about %s EUR)\nDaily burn:  %s points (%d accounts)\nDays left:   %s\nState:       %s\n",
			w.Balance, w.BalanceEUR, w.DailyBurn, w.Accounts, days, w.WarnState)
		if w.ChargedThrough != nil {
			fmt.Fprintf(e.stdout, "Charged to:  %s\n", w.ChargedThrough)
		}
		if w.DepletedSince != nil {
			fmt.Fprintf(e.stdout, "Ran out:     %s; grace until %s%s\n", w.DepletedSince, w.GraceUntil, map[bool]string{true: " (over: new accounts and upgrades refused)"}[w.Restricted])
		}
		return nil
	})
}

func billingLedger(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing ledger")
	from := fs.String("from", "", "first value date, YYYY-MM-DD")
	to := fs.String("to", "", "last value date, YYYY-MM-DD")
	csv := fs.Bool("csv", false, "print as CSV")
	xlsx := fs.String("xlsx", "", "write an Excel workbook to this file")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		ms, err := b.Ledger(ctx, pos[0], *from, *to)
		if err != nil {
			return err
		}
		switch {
		case *xlsx != "":
			return writeFileWith(*xlsx, func(w io.Writer) error { return billing.WriteLedgerXLSX(w, ms) })
		case *asJSON:
			return writeJSON(e.stdout, ms)
		case *csv:
			return billing.WriteLedgerCSV(e.stdout, ms)
		}
		var rows [][]string
		for _, m := range ms {
			rows = append(rows, []string{strconv.FormatInt(m.Seq, 10), m.Day.String(), m.Kind, m.Amount.String(), m.BalanceAfter.String(), m.EUR, m.Reference, m.Reason, m.Actor})
		}
		table(e.stdout, []string{"#", "DAY", "KIND", "POINTS", "BALANCE", "EUR", "REFERENCE", "REASON", "WHO"}, rows)
		return nil
	})
}

func billingUsage(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing usage")
	by := fs.String("by", "day", "group by day, cos or account")
	from := fs.String("from", "", "first day, YYYY-MM-DD (default the first of this month)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (default today)")
	csv := fs.Bool("csv", false, "print as CSV")
	xlsx := fs.String("xlsx", "", "write an Excel workbook to this file")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		u, err := b.UsageFor(ctx, pos[0], *by, *from, *to)
		if err != nil {
			return err
		}
		switch {
		case *xlsx != "":
			return writeFileWith(*xlsx, func(w io.Writer) error { return billing.WriteUsageXLSX(w, u) })
		case *asJSON:
			return writeJSON(e.stdout, u)
		case *csv:
			return billing.WriteUsageCSV(e.stdout, u)
		}
		var rows [][]string
		var header []string
		switch u.By {
		case billing.ByDay:
			header = []string{"DAY", "ACCOUNTS", "ACCOUNT-DAYS", "POINTS", "CHARGED"}
			for _, r := range u.Rows {
				ch := ""
				if r.Charged != nil {
					ch = r.Charged.String()
				}
				rows = append(rows, []string{r.Day.String(), strconv.FormatInt(r.Accounts, 10), r.AccountDays, r.Amount.String(), ch})
			}
		case billing.ByCOS:
			header = []string{"COS", "ACCOUNTS", "ACCOUNT-DAYS", "POINTS"}
			for _, r := range u.Rows {
				rows = append(rows, []string{r.COS, strconv.FormatInt(r.Accounts, 10), r.AccountDays, r.Amount.String()})
			}
		default:
			header = []string{"ACCOUNT", "COS", "DAYS", "POINTS"}
			for _, r := range u.Rows {
				rows = append(rows, []string{r.Account, r.COS, r.AccountDays, r.Amount.String()})
			}
		}
		table(e.stdout, header, rows)
		total := "Total: " + u.Total.String() + " points (" + u.Mode + ")"
		if u.Charged != nil {
			total += ", charged " + u.Charged.String()
		}
		fmt.Fprintln(e.stdout, total)
		return nil
	})
}

// writeFileWith writes a file through fn, atomically enough for an export: into a temporary
// file renamed at the end.
func writeFileWith(path string, fn func(w io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func billingStatement(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing statement")
	month := fs.String("month", "", "the month, YYYY-MM")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *month == "" {
		return usagef("billing statement TENANT --month YYYY-MM")
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		st, err := b.StatementFor(ctx, pos[0], *month)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, st)
		}
		fmt.Fprintf(e.stdout, "Statement %s of %s (%s), %s to %s\n\n", st.Month, st.Tenant, st.Contract, st.From, st.To)
		fmt.Fprintf(e.stdout, "Opening balance  %12s\nRecharges        %12s  (%s EUR)\nCharges          %12s\nAdjustments      %12s\nRefunds          %12s\nClosing balance  %12s\n\n",
			st.Opening, st.Recharged, st.RechargedEUR, "-"+st.Charged.String(), st.Adjusted, st.Refunded, st.Closing)
		var rows [][]string
		for _, m := range st.Movements {
			rows = append(rows, []string{m.Day.String(), m.Kind, m.Amount.String(), m.BalanceAfter.String(), m.Reference})
		}
		table(e.stdout, []string{"DAY", "KIND", "POINTS", "BALANCE", "REFERENCE"}, rows)
		fmt.Fprintln(e.stdout)
		rows = nil
		for _, r := range st.ByCOS {
			rows = append(rows, []string{r.COS, strconv.FormatInt(r.Accounts, 10), r.AccountDays, r.Amount.String()})
		}
		table(e.stdout, []string{"COS", "ACCOUNTS", "ACCOUNT-DAYS", "POINTS"}, rows)
		fmt.Fprintf(e.stdout, "\n%d points per euro; charge rule %s. The printable statement is in the console: /billing/tenants/%d/statement?month=%s\n",
			st.PointsPerEUR, st.Mode, st.TenantID, st.Month)
		return nil
	})
}

func billingSettings(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing settings")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 0 && len(pos) != 2 {
		return usagef("billing settings [KEY VALUE] (keys: %s)", strings.Join(billing.SettingKeys, ", "))
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		var st billing.Settings
		var err error
		if len(pos) == 2 {
			st, err = b.SetSetting(ctx, pos[0], pos[1])
		} else {
			st, err = b.Settings(ctx)
		}
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, st)
		}
		fmt.Fprintf(e.stdout, "points_per_eur   %d\nwarn_days        %d\ngrace_days       %d\ncharge_mode      %s\nsuspend_sending  %t\nwebhook secret   %s\n",
			st.PointsPerEUR, st.WarnDays, st.GraceDays, st.ChargeMode, st.SuspendSending, map[bool]string{true: "set", false: "not set"}[st.WebhookConfigured])
		return nil
	})
}

func billingWebhookSecret(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing webhook-secret")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		s, err := b.RotateWebhookSecret(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, map[string]string{"secret": s, "header": billing.SignatureHeader})
		}
		fmt.Fprintf(e.stdout, "%s\n\nSign each POST to /api/v1/billing/webhook with the header\n  %s: sha256=<hex HMAC-SHA256 of the body with this secret>\nThe previous secret no longer works.\n", s, billing.SignatureHeader)
		return nil
	})
}

func billingVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags("billing verify")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withBilling(ctx, e, func(ctx context.Context, b *billing.Service) error {
		problems, err := b.Verify(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if problems == nil {
				problems = []string{}
			}
			return writeJSON(e.stdout, map[string]any{"ok": len(problems) == 0, "problems": problems})
		}
		for _, p := range problems {
			fmt.Fprintln(e.stdout, p)
		}
		if len(problems) > 0 {
			return fmt.Errorf("%d problems in the ledger", len(problems))
		}
		fmt.Fprintln(e.stdout, "every balance is the sum of its ledger")
		return nil
	})
}
