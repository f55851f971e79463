package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func tenantCommands() map[string]command {
	return map[string]command{
		"create":  {"create a tenant: NAME --contact EMAIL [--contract subscription|payg]", tenantCreate},
		"list":    {"list tenants", tenantList},
		"show":    {"show a tenant and its usage against its contract: NAME", tenantShow},
		"update":  {"change a tenant: NAME [--name] [--contact] [--contract] [--max-message-size] [--reject-dmarc=true|false]", tenantUpdate},
		"set":     {"the same as update", tenantUpdate},
		"suspend": {"suspend a tenant: NAME", func(ctx context.Context, e *env, a []string) error { return tenantStatus(ctx, e, a, "suspended") }},
		"resume":  {"re-activate a suspended tenant: NAME", func(ctx context.Context, e *env, a []string) error { return tenantStatus(ctx, e, a, "active") }},
		"cap":     {"set a subscription contract's cap: NAME COS MAX (MAX -1 removes it)", tenantCap},
	}
}

func visited(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

func tenantCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlags("tenant create")
	contact := fs.String("contact", "", "contact e-mail of the customer (required)")
	contract := fs.String("contract", "subscription", "subscription or payg")
	mms := fs.Int64("max-message-size", 0, "message size limit in bytes (0: the provider's)")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		t, err := dir.CreateTenant(ctx, directory.TenantSpec{Name: pos[0], ContactEmail: *contact, Contract: *contract, MaxMessageSize: *mms})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, t)
		}
		fmt.Fprintf(e.stdout, "tenant %q created (id %d, %s contract)\n", t.Name, t.ID, t.Contract)
		return nil
	})
}

func tenantList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("tenant list")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		ts, err := dir.ListTenants(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if ts == nil {
				ts = []*directory.Tenant{}
			}
			return writeJSON(e.stdout, ts)
		}
		var rows [][]string
		for _, t := range ts {
			rows = append(rows, []string{strconv.FormatInt(t.ID, 10), t.Name, t.Contract, t.Status, t.ContactEmail, fmtTime(t.CreatedAt)})
		}
		table(e.stdout, []string{"ID", "NAME", "CONTRACT", "STATUS", "CONTACT", "CREATED"}, rows)
		return nil
	})
}

func tenantShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags("tenant show")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		t, err := dir.GetTenant(ctx, pos[0])
		if err != nil {
			return err
		}
		usage, err := dir.Usage(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			if usage == nil {
				usage = []directory.COSUsage{}
			}
			return writeJSON(e.stdout, struct {
				*directory.Tenant
				Usage []directory.COSUsage `json:"usage"`
			}{t, usage})
		}
		dmarc := "refused at SMTP time"
		if !t.RejectDMARC {
			dmarc = "accepted into Junk"
		}
		fmt.Fprintf(e.stdout, "Tenant:   %s (id %d)\nContract: %s\nStatus:   %s\nContact:  %s\nCreated:  %s\nDMARC p=reject failures: %s\n\n",
			t.Name, t.ID, t.Contract, t.Status, t.ContactEmail, fmtTime(t.CreatedAt), dmarc)
		var rows [][]string
		for _, u := range usage {
			c := "-"
			if u.Cap >= 0 {
				c = strconv.Itoa(u.Cap)
			}
			rows = append(rows, []string{u.COS, strconv.Itoa(u.InUse), c})
		}
		table(e.stdout, []string{"CLASS OF SERVICE", "ACCOUNTS", "CAP"}, rows)
		return nil
	})
}

func tenantUpdate(ctx context.Context, e *env, args []string) error {
	fs := newFlags("tenant update")
	name := fs.String("name", "", "new name")
	contact := fs.String("contact", "", "new contact e-mail")
	contract := fs.String("contract", "", "subscription or payg")
	mms := fs.Int64("max-message-size", 0, "message size limit in bytes (0: the provider's)")
	rejectDMARC := fs.Bool("reject-dmarc", true, "refuse at SMTP time messages to the tenant failing DMARC with p=reject (false: accept them into Junk)")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	set := visited(fs)
	u := directory.TenantUpdate{Name: optString(set, "name", *name), ContactEmail: optString(set, "contact", *contact), Contract: optString(set, "contract", *contract)}
	if set["max-message-size"] {
		u.MaxMessageSize = mms
	}
	if set["reject-dmarc"] {
		u.RejectDMARC = rejectDMARC
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		t, err := dir.UpdateTenant(ctx, pos[0], u)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "tenant %q updated\n", t.Name)
		return nil
	})
}

func tenantStatus(ctx context.Context, e *env, args []string, status string) error {
	fs := newFlags("tenant " + status)
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		t, err := dir.UpdateTenant(ctx, pos[0], directory.TenantUpdate{Status: &status})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "tenant %q is now %s\n", t.Name, t.Status)
		return nil
	})
}

func tenantCap(ctx context.Context, e *env, args []string) error {
	fs := newFlags("tenant cap")
	pos, err := parseFlags(fs, args, 3)
	if err != nil {
		return err
	}
	max, err := strconv.Atoi(pos[2])
	if err != nil {
		return usagef("tenant cap: MAX must be a whole number, got %q", pos[2])
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.SetContractCap(ctx, pos[0], pos[1], max); err != nil {
			return err
		}
		if max < 0 {
			fmt.Fprintf(e.stdout, "cap of %q removed from %q's contract\n", pos[1], pos[0])
		} else {
			fmt.Fprintf(e.stdout, "%q may have %d accounts of %q\n", pos[0], max, pos[1])
		}
		return nil
	})
}
