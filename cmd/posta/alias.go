package main

import (
	"context"
	"fmt"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func aliasCommands() map[string]command {
	return map[string]command{
		"add":    {"add an alias: ALIAS ACCOUNT", aliasAdd},
		"list":   {"list aliases [--account A] [--domain D]", aliasList},
		"remove": {"remove an alias: ALIAS", aliasRemove},
	}
}

func aliasAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags("alias add")
	pos, err := parseFlags(fs, args, 2)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		a, err := dir.AddAlias(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "alias %s -> %s added\n", a.Address, a.Account)
		return nil
	})
}

func aliasList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("alias list")
	account := fs.String("account", "", "aliases of this account")
	domain := fs.String("domain", "", "aliases in this domain")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		as, err := dir.ListAliases(ctx, *account, *domain)
		if err != nil {
			return err
		}
		if *asJSON {
			if as == nil {
				as = []directory.Alias{}
			}
			return writeJSON(e.stdout, as)
		}
		var rows [][]string
		for _, a := range as {
			rows = append(rows, []string{a.Address, a.Account})
		}
		table(e.stdout, []string{"ALIAS", "ACCOUNT"}, rows)
		return nil
	})
}

func aliasRemove(ctx context.Context, e *env, args []string) error {
	fs := newFlags("alias remove")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.RemoveAlias(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "alias %s removed\n", pos[0])
		return nil
	})
}
