package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/msglog"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/server"
)

func queueCommands() map[string]command {
	return map[string]command{
		"list":    {"list the outbound queue", queueList},
		"show":    {"show an entry with its attempts: ID", queueShow},
		"retry":   {"try an entry again now: ID", queueAct("retry")},
		"hold":    {"stop trying an entry until released: ID [--reason R]", queueAct("hold")},
		"release": {"put a held entry back, due now: ID", queueAct("release")},
		"delete":  {"remove an entry without delivering it: ID [--reason R]", queueAct("delete")},
		"trace":   {"what happened to a message (Message-ID) or an address: WHAT", queueTrace},
	}
}

func withQueue(ctx context.Context, e *env, fn func(ctx context.Context, q *queue.Queue) error) error {
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		return fn(ctx, srv.Queue)
	})
}

func queueList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("queue list")
	limit := fs.Int("limit", 100, "at most this many entries")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withQueue(ctx, e, func(ctx context.Context, q *queue.Queue) error {
		es, err := q.List(ctx, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			if es == nil {
				es = []queue.Entry{}
			}
			return writeJSON(e.stdout, es)
		}
		var rows [][]string
		for _, x := range es {
			rows = append(rows, []string{strconv.FormatInt(x.ID, 10), x.Status, x.From, x.To, strconv.Itoa(x.Attempts), x.LastError})
		}
		table(e.stdout, []string{"ID", "STATUS", "FROM", "TO", "ATTEMPTS", "LAST ERROR"}, rows)
		return nil
	})
}

func queueID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, usagef("ID must be a number, got %q", s)
	}
	return id, nil
}

func queueShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags("queue show")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := queueID(pos[0])
	if err != nil {
		return err
	}
	return withQueue(ctx, e, func(ctx context.Context, q *queue.Queue) error {
		d, err := q.Show(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, d)
		}
		fmt.Fprintf(e.stdout, "ID:         %d\nStatus:     %s %s\nFrom:       %s\nTo:         %s\nMessage-ID: %s\nSize:       %d\nAttempts:   %d\n",
			d.ID, d.Status, d.HoldReason, d.From, d.To, d.MessageID, d.Size, d.Entry.Attempts)
		if d.RequireTLS {
			fmt.Fprintf(e.stdout, "REQUIRETLS: yes (verified TLS only, RFC 8689)\n")
		}
		if d.NextTry != 0 && d.Status == "queued" {
			fmt.Fprintf(e.stdout, "Next try:   %s\n", time.UnixMilli(d.NextTry).Format(time.DateTime))
		}
		for _, a := range d.Attempts {
			fmt.Fprintf(e.stdout, "  %s  %s  %s  %s\n", time.UnixMilli(a.At).Format(time.DateTime), a.Host, a.TLS, a.Response)
			if a.Policy != "" {
				fmt.Fprintf(e.stdout, "      TLS policy: %s  certificate: %s\n", a.Policy, orDash(a.TLSResult))
			}
		}
		return nil
	})
}

func queueAct(verb string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		fs := newFlags("queue " + verb)
		reason := fs.String("reason", "", "why (kept with the entry)")
		pos, err := parseFlags(fs, args, 1)
		if err != nil {
			return err
		}
		id, err := queueID(pos[0])
		if err != nil {
			return err
		}
		return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, dir *directory.Service) error {
			before, after, err := srv.Queue.Operate(ctx, id, verb, *reason, cliActor())
			if err != nil {
				return err
			}
			if err := dir.RecordChange(ctx, 0, "queue."+verb, strconv.FormatInt(id, 10), before, after); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "queue entry %d: %s done\n", id, verb)
			return nil
		})
	}
}

func queueTrace(ctx context.Context, e *env, args []string) error {
	fs := newFlags("queue trace")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withQueue(ctx, e, func(ctx context.Context, q *queue.Queue) error {
		tr, err := q.Trace(ctx, pos[0], 50)
		if err != nil {
			return err
		}
		if *asJSON {
			if tr == nil {
				tr = []queue.TraceEntry{}
			}
			return writeJSON(e.stdout, tr)
		}
		for _, t := range tr {
			fmt.Fprintf(e.stdout, "%d  %s -> %s  %s  %s\n", t.QueueID, t.From, t.To, t.Status, t.Response)
			for _, a := range t.Attempts {
				fmt.Fprintf(e.stdout, "    %s  %s  %s  %s\n", time.UnixMilli(a.At).Format(time.DateTime), a.Host, a.TLS, a.Response)
				if a.Policy != "" {
					fmt.Fprintf(e.stdout, "        TLS policy: %s  certificate: %s\n", a.Policy, orDash(a.TLSResult))
				}
			}
		}
		return nil
	})
}

// trace is what posta trace prints as JSON: the messages received (the message log) and
// their deliveries to remote servers (the queue).
type trace struct {
	Received []*msglog.Entry    `json:"received"`
	Outbound []queue.TraceEntry `json:"outbound"`
}

func runTrace(ctx context.Context, e *env, args []string) error {
	fs := newFlags("trace")
	limit := fs.Int("limit", 50, "at most this many messages of each kind")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, srv *server.Server, _ *directory.Service) error {
		var t trace
		var err error
		if t.Received, err = srv.MsgLog.Find(ctx, pos[0], *limit); err != nil {
			return err
		}
		if t.Outbound, err = srv.Queue.Trace(ctx, pos[0], *limit); err != nil {
			return err
		}
		if *asJSON {
			if t.Received == nil {
				t.Received = []*msglog.Entry{}
			}
			if t.Outbound == nil {
				t.Outbound = []queue.TraceEntry{}
			}
			return writeJSON(e.stdout, t)
		}
		if len(t.Received) == 0 && len(t.Outbound) == 0 {
			fmt.Fprintf(e.stdout, "nothing found for %s\n", pos[0])
			return nil
		}
		for _, m := range t.Received {
			fmt.Fprintf(e.stdout, "%s  received %s  from <%s>  %d bytes  Message-ID <%s>\n", m.At.Format(time.DateTime), m.Source, m.From, m.Size, m.MessageID)
			fmt.Fprintf(e.stdout, "    client %s  helo %s  user %s  %s\n", orDash(m.ClientIP), orDash(m.HELO), orDash(m.AuthUser), orDash(m.TLS))
			if m.Checks != "" {
				fmt.Fprintf(e.stdout, "    checks: %s\n", m.Checks)
			}
			for _, r := range m.Rcpts {
				fmt.Fprintf(e.stdout, "    %s  %s  %s\n", r.Address, r.Outcome, r.Detail)
			}
		}
		for _, q := range t.Outbound {
			fmt.Fprintf(e.stdout, "%s  outbound %d  <%s> -> <%s>  %s  %s\n", time.UnixMilli(q.CreatedAt).Format(time.DateTime), q.QueueID, q.From, q.To, q.Status, q.Response)
			for _, a := range q.Attempts {
				fmt.Fprintf(e.stdout, "    %s  %s  %s  %s\n", time.UnixMilli(a.At).Format(time.DateTime), a.Host, a.TLS, a.Response)
			}
		}
		return nil
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
