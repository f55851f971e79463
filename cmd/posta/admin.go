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
	"github.com/postamail/posta/internal/webauth"
)

func adminCommands() map[string]command {
	return map[string]command{
		"add":          {"add an administrator: EMAIL --role provider|tenant|domain [--tenant T] [--domain D ...] (--password-file F | --generate-password)", adminAdd},
		"list":         {"list administrators", adminList},
		"remove":       {"remove an administrator: EMAIL", adminRemove},
		"totp":         {"turn two-factor login on (prints the secret) or off: EMAIL on|off", adminTOTP},
		"audit":        {"the audit log, newest first: who, role, when, from where, what, before and after: [--tenant T] [--limit N] [--json]", adminAudit},
		"require-totp": {"require two-factor login of every administrator, or of a tenant's, or stop; without on|off show it: [on|off] [--tenant T]", adminRequireTOTP},
	}
}

func tokenCommands() map[string]command {
	return map[string]command{
		"create": {"create an API token acting as an administrator: --admin EMAIL --name N [--scope read|write] (prints the token once)", tokenCreate},
		"list":   {"list an administrator's tokens: --admin EMAIL", tokenList},
		"revoke": {"revoke a token: --admin EMAIL ID", tokenRevoke},
	}
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func adminAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("admin add")
	role := fs.String("role", "", "provider, tenant or domain")
	tenant := fs.String("tenant", "", "the tenant of a tenant or domain administrator")
	var domains multiFlag
	fs.Var(&domains, "domain", "a domain of a domain administrator (repeat for several)")
	pwFile := fs.String("password-file", "", "read the password from this file (- for standard input)")
	gen := fs.Bool("generate-password", false, "generate a password and print it")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	if *role == "" {
		return usagef("--role is required: provider, tenant or domain")
	}
	pw, generated, err := readPassword(e, *pwFile, *gen)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		a, err := dir.CreateAdmin(ctx, directory.AdminSpec{Email: pos[0], Password: pw, Role: directory.Role(*role), Tenant: *tenant, Domains: domains})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "administrator %s (%s) added\n", a.Email, a.Role)
		if generated {
			fmt.Fprintf(e.stdout, "password: %s\n", pw)
		}
		return nil
	})
}

func adminList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("admin list")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		as, err := dir.ListAdmins(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if as == nil {
				as = []*directory.Admin{}
			}
			return writeJSON(e.stdout, as)
		}
		var rows [][]string
		for _, a := range as {
			tenant := ""
			if a.TenantID != 0 {
				tenant = strconv.FormatInt(a.TenantID, 10)
			}
			rows = append(rows, []string{a.Email, string(a.Role), tenant, strings.Join(a.Domains, " ")})
		}
		table(e.stdout, []string{"EMAIL", "ROLE", "TENANT", "DOMAINS"}, rows)
		return nil
	})
}

func adminRemove(ctx context.Context, e *env, args []string) error {
	fs := newFlags("admin remove")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.RemoveAdmin(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "administrator %s removed\n", pos[0])
		return nil
	})
}

func adminTOTP(ctx context.Context, e *env, args []string) error {
	fs := newFlags("admin totp")
	pos, err := parseFlags(fs, args, 2)
	if err != nil {
		return err
	}
	secret := ""
	switch pos[1] {
	case "on":
		secret = auth.NewTOTPSecret()
	case "off":
	default:
		return usagef("admin totp EMAIL on|off")
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.SetAdminTOTP(ctx, pos[0], secret); err != nil {
			return err
		}
		if secret == "" {
			fmt.Fprintf(e.stdout, "two-factor login off for %s\n", pos[0])
			return nil
		}
		fmt.Fprintf(e.stdout, "two-factor login on for %s\nsecret: %s\nURI:    %s\n", pos[0], secret, auth.TOTPURI("posta", pos[0], secret))
		return nil
	})
}

func adminRequireTOTP(ctx context.Context, e *env, args []string) error {
	fs := newFlags("admin require-totp")
	tenant := fs.String("tenant", "", "a tenant: require it of its administrators only")
	pos, err := parseFlags(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) > 1 || (len(pos) == 1 && pos[0] != "on" && pos[0] != "off") {
		return usagef("admin require-totp [on|off] [--tenant T]")
	}
	who := "every administrator"
	if *tenant != "" {
		who = "the administrators of " + *tenant
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if len(pos) == 1 {
			if err := dir.SetTOTPRequired(ctx, *tenant, pos[0] == "on"); err != nil {
				return err
			}
		}
		on, err := dir.TOTPRequired(ctx, *tenant)
		if err != nil {
			return err
		}
		state := "optional"
		if on {
			state = "required"
		}
		fmt.Fprintf(e.stdout, "two-factor login %s for %s\n", state, who)
		return nil
	})
}

func adminAudit(ctx context.Context, e *env, args []string) error {
	fs := newFlags("admin audit")
	tenant := fs.String("tenant", "", "only the changes of this tenant")
	limit := fs.Int("limit", 50, "how many entries (at most 1000)")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		es, err := dir.ListAudit(ctx, *tenant, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			if es == nil {
				es = []directory.AuditEntry{}
			}
			return writeJSON(e.stdout, es)
		}
		var rows [][]string
		for _, a := range es {
			rows = append(rows, []string{time.UnixMilli(a.At).UTC().Format(time.RFC3339), a.Actor, a.Role, a.Remote, a.Action, a.Target, a.Before, a.After})
		}
		table(e.stdout, []string{"AT", "ACTOR", "ROLE", "FROM", "ACTION", "TARGET", "BEFORE", "AFTER"}, rows)
		return nil
	})
}

// withTokens runs fn with the token store and the administrator named by --admin.
func withTokens(ctx context.Context, e *env, email string, fn func(ctx context.Context, web *webauth.Service, adminID int64) error) error {
	if email == "" {
		return usagef("--admin EMAIL is required")
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, dir *directory.Service) error {
		admins, err := dir.ListAdmins(ctx)
		if err != nil {
			return err
		}
		for _, a := range admins {
			if strings.EqualFold(a.Email, strings.TrimSpace(email)) {
				return fn(ctx, webauth.New(srv.DB, dir, srv.Throttle, webauth.Options{}), a.ID)
			}
		}
		return &directory.Error{Kind: "not-found", Msg: fmt.Sprintf("no administrator %q", email)}
	})
}

func tokenCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlags("token create")
	admin := fs.String("admin", "", "the administrator the token acts as")
	name := fs.String("name", "", "what the token is for")
	var scopes multiFlag
	fs.Var(&scopes, "scope", "read or write (repeat for several; default read)")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withTokens(ctx, e, *admin, func(ctx context.Context, web *webauth.Service, id int64) error {
		secret, t, err := web.CreateToken(ctx, id, *name, scopes)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "token %d (%s, %s) created; it is shown only now:\n%s\n", t.ID, t.Name, strings.Join(t.Scopes, " "), secret)
		return nil
	})
}

func tokenList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("token list")
	admin := fs.String("admin", "", "the administrator whose tokens to list")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withTokens(ctx, e, *admin, func(ctx context.Context, web *webauth.Service, id int64) error {
		ts, err := web.ListTokens(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, ts)
		}
		var rows [][]string
		for _, t := range ts {
			state := "live"
			if t.Revoked {
				state = "revoked"
			}
			rows = append(rows, []string{strconv.FormatInt(t.ID, 10), t.Name, strings.Join(t.Scopes, " "), state})
		}
		table(e.stdout, []string{"ID", "NAME", "SCOPES", "STATE"}, rows)
		return nil
	})
}

func tokenRevoke(ctx context.Context, e *env, args []string) error {
	fs := newFlags("token revoke")
	admin := fs.String("admin", "", "the administrator the token belongs to")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil {
		return usagef("token revoke: ID must be a number, got %q", pos[0])
	}
	return withTokens(ctx, e, *admin, func(ctx context.Context, web *webauth.Service, adminID int64) error {
		if err := web.RevokeToken(ctx, adminID, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "token %d revoked\n", id)
		return nil
	})
}
