package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func domainCommands() map[string]command {
	return map[string]command{
		"add":    {"add a domain to a tenant: NAME --tenant T [--alias-of DOMAIN] [--catch-all ADDRESS]", domainAdd},
		"list":   {"list domains [--tenant T]", domainList},
		"remove": {"remove a domain that has no addresses left: NAME", domainRemove},
		"dkim":   {"show a domain's DKIM records to publish: NAME [--rotate | --activate]", domainDKIM},
	}
}

// domainDKIM shows the DKIM keys of a domain; --rotate adds new keys to publish first,
// --activate makes them sign once published.
func domainDKIM(ctx context.Context, e *env, args []string) error {
	fs := newFlags("domain dkim")
	rotate := fs.Bool("rotate", false, "add new keys (pending): publish their records, then --activate")
	activate := fs.Bool("activate", false, "sign with the pending keys and retire the active ones")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *rotate && *activate {
		return usagef("domain dkim: --rotate and --activate are two steps, DNS publication between them")
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, dir *directory.Service) error {
		d, err := dir.GetDomain(ctx, pos[0])
		if err != nil {
			return err
		}
		keys := func() (map[string]any, error) {
			recs, err := srv.DKIM.Records(ctx, d.Name)
			var ks []string
			for _, r := range recs {
				ks = append(ks, r.Name+" "+r.Algorithm+" "+r.State)
			}
			return map[string]any{"keys": ks}, err
		}
		before, err := keys()
		if err != nil {
			return err
		}
		action := ""
		switch {
		case *rotate:
			action, err = "domain.dkim.rotate", srv.DKIM.Rotate(ctx, d.Name)
		case *activate:
			action, err = "domain.dkim.activate", srv.DKIM.Activate(ctx, d.Name)
		default:
			err = srv.DKIM.Ensure(ctx, d.Name)
		}
		if err != nil {
			return err
		}
		if action != "" {
			after, err := keys()
			if err != nil {
				return err
			}
			if err := dir.RecordChange(ctx, d.TenantID, action, d.Name, before, after); err != nil {
				return err
			}
		}
		recs, err := srv.DKIM.Records(ctx, d.Name)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, recs)
		}
		var rows [][]string
		for _, r := range recs {
			rows = append(rows, []string{r.Name, r.State, r.Algorithm, r.Value})
		}
		table(e.stdout, []string{"NAME (TXT)", "STATE", "ALGORITHM", "VALUE"}, rows)
		return nil
	})
}

func domainAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("domain add")
	tenant := fs.String("tenant", "", "tenant that owns the domain (required)")
	aliasOf := fs.String("alias-of", "", "make this an alias of another domain of the tenant")
	catchAll := fs.String("catch-all", "", "address receiving mail for unknown local parts")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *tenant == "" {
		return usagef("domain add: --tenant is required")
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, dir *directory.Service) error {
		d, err := dir.AddDomain(ctx, *tenant, pos[0], directory.DomainOptions{AliasOf: *aliasOf, CatchAll: *catchAll})
		if err != nil {
			return err
		}
		if err := srv.DKIM.Ensure(ctx, d.Name); err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, d)
		}
		fmt.Fprintf(e.stdout, "domain %s added to %q\n", d.Name, d.Tenant)
		return nil
	})
}

func domainList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("domain list")
	tenant := fs.String("tenant", "", "only this tenant's domains")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		ds, err := dir.ListDomains(ctx, *tenant)
		if err != nil {
			return err
		}
		if *asJSON {
			if ds == nil {
				ds = []*directory.Domain{}
			}
			return writeJSON(e.stdout, ds)
		}
		var rows [][]string
		for _, d := range ds {
			rows = append(rows, []string{strconv.FormatInt(d.ID, 10), d.Name, d.Tenant, dash(d.AliasOf), dash(d.CatchAll)})
		}
		table(e.stdout, []string{"ID", "DOMAIN", "TENANT", "ALIAS OF", "CATCH-ALL"}, rows)
		return nil
	})
}

func domainRemove(ctx context.Context, e *env, args []string) error {
	fs := newFlags("domain remove")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.RemoveDomain(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "domain %s removed\n", pos[0])
		return nil
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
