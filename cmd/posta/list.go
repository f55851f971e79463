package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func listCommands() map[string]command {
	return map[string]command{
		"create":        {"create a distribution list: ADDRESS [--name N] [--post-policy anyone|members|tenant]", listCreate},
		"add-member":    {"add a member (local, external or another list): LIST MEMBER", listMember(true)},
		"remove-member": {"remove a member: LIST MEMBER", listMember(false)},
		"show":          {"show a list and its members: LIST", listShow},
		"all":           {"list the distribution lists [--domain D]", listAll},
		"remove":        {"delete a list: LIST", listRemove},
	}
}

func listCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlags("list create")
	name := fs.String("name", "", "a description")
	policy := fs.String("post-policy", "members", "who may post: anyone, members or tenant")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		l, err := dir.CreateList(ctx, directory.ListSpec{Address: pos[0], Name: *name, PostPolicy: *policy})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "list %s created (post policy: %s)\n", l.Address, l.PostPolicy)
		return nil
	})
}

func listMember(add bool) func(context.Context, *env, []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs := newFlags("list member")
		pos, err := parseFlags(fs, args, 2)
		if err != nil {
			return err
		}
		return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
			if add {
				if err := dir.AddListMember(ctx, pos[0], pos[1]); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s added to %s\n", pos[1], pos[0])
				return nil
			}
			if err := dir.RemoveListMember(ctx, pos[0], pos[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s removed from %s\n", pos[1], pos[0])
			return nil
		})
	}
}

func listShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags("list show")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		l, err := dir.GetList(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, l)
		}
		fmt.Fprintf(e.stdout, "List:        %s\nName:        %s\nPost policy: %s\nMembers (%d):\n", l.Address, dash(l.Name), l.PostPolicy, len(l.Members))
		for _, m := range l.Members {
			fmt.Fprintf(e.stdout, "  %s\n", m)
		}
		return nil
	})
}

func listAll(ctx context.Context, e *env, args []string) error {
	fs := newFlags("list all")
	domain := fs.String("domain", "", "lists of this domain")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		ls, err := dir.ListLists(ctx, *domain)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, ls)
		}
		var rows [][]string
		for _, l := range ls {
			rows = append(rows, []string{l.Address, l.PostPolicy, fmt.Sprint(len(l.Members)), strings.Join(l.Members, ", ")})
		}
		table(e.stdout, []string{"LIST", "POST POLICY", "MEMBERS", ""}, rows)
		return nil
	})
}

func listRemove(ctx context.Context, e *env, args []string) error {
	fs := newFlags("list remove")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		if err := dir.RemoveList(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "list %s removed\n", pos[0])
		return nil
	})
}
