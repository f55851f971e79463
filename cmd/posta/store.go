package main

import (
	"context"
	"fmt"
	"time"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func storeCommands() map[string]command {
	return map[string]command{
		"verify": {"check the mail store's invariants (counters, quota usage, blob references and files)", storeVerify},
		"sweep":  {"remove message bodies no longer referenced [--grace DURATION]", storeSweep},
	}
}

func storeVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags("store verify")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		problems, err := srv.Store.Verify(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if problems == nil {
				problems = []string{}
			}
			if err := writeJSON(e.stdout, map[string]any{"ok": len(problems) == 0, "problems": problems}); err != nil {
				return err
			}
		} else {
			for _, p := range problems {
				fmt.Fprintln(e.stdout, p)
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("the store has %d problems", len(problems))
		}
		if !*asJSON {
			fmt.Fprintln(e.stdout, "store verified: no problems")
		}
		return nil
	})
}

func storeSweep(ctx context.Context, e *env, args []string) error {
	fs := newFlags("store sweep")
	grace := fs.Duration("grace", time.Hour, "keep unreferenced bodies younger than this")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		n, err := srv.Store.Sweep(ctx, *grace)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d unreferenced bodies removed\n", n)
		return nil
	})
}
