package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

func cosCommands() map[string]command {
	return map[string]command{
		"list":   {"list classes of service", cosList},
		"show":   {"show a class of service: NAME", cosShow},
		"create": {"create a custom class: NAME --quota-mb N [--type TYPE] [--features mail,contacts,...]", cosCreate},
	}
}

func cosRow(c *directory.COS) []string {
	return []string{strconv.FormatInt(c.ID, 10), c.Name, fmtMB(c.QuotaBytes), strings.Join(c.FeatureList, ",")}
}

func cosList(ctx context.Context, e *env, args []string) error {
	fs := newFlags("cos list")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		cs, err := dir.ListCOS(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, cs)
		}
		var rows [][]string
		for _, c := range cs {
			rows = append(rows, cosRow(c))
		}
		table(e.stdout, []string{"ID", "NAME", "QUOTA", "FEATURES"}, rows)
		return nil
	})
}

func cosShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags("cos show")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		c, err := dir.GetCOS(ctx, pos[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, c)
		}
		fmt.Fprintf(e.stdout, "Name:        %s\nType:        %s\nQuota:       %s\nFeatures:    %s\nMin password %d characters\n",
			c.Name, c.ServiceType, fmtMB(c.QuotaBytes), strings.Join(c.FeatureList, ", "), c.MinPasswordLen)
		if c.MaxMessageSize > 0 {
			fmt.Fprintf(e.stdout, "Max message: %d bytes\n", c.MaxMessageSize)
		}
		if c.SendPerDay > 0 {
			fmt.Fprintf(e.stdout, "Sending:     %d messages per day\n", c.SendPerDay)
		}
		if c.MaxMessages > 0 {
			fmt.Fprintf(e.stdout, "Messages:    at most %d kept\n", c.MaxMessages)
		}
		return nil
	})
}

func cosCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlags("cos create")
	quota := fs.Int64("quota-mb", 0, "quota in MB (required)")
	typ := fs.String("type", "custom", "service type: business-mail, business-mail-plus, standard-suite, professional-suite or custom")
	features := fs.String("features", "mail,contacts", "features of a custom type, comma separated")
	mms := fs.Int64("max-message-size", 0, "message size limit in bytes")
	perDay := fs.Int("send-per-day", 0, "messages an account may send per day (0: unlimited)")
	rcpts := fs.Int("recipients-per-message", 0, "recipients per message (0: the provider's limit)")
	minPw := fs.Int("min-password-len", 10, "minimum password length")
	maxMsgs := fs.Int64("max-messages", 0, "messages an account may keep (0: no cap; the IMAP MESSAGE quota)")
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parseFlags(fs, args, 1)
	if err != nil {
		return err
	}
	return withDirectory(ctx, e, func(ctx context.Context, _ *server.Server, dir *directory.Service) error {
		c, err := dir.CreateCOS(ctx, directory.COSSpec{Name: pos[0], ServiceType: *typ, QuotaMB: *quota, Features: strings.Split(*features, ","),
			MaxMessageSize: *mms, SendPerDay: *perDay, RecipientsPerMessage: *rcpts, MinPasswordLen: *minPw, MaxMessages: *maxMsgs})
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSON(e.stdout, c)
		}
		fmt.Fprintf(e.stdout, "class of service %q created (id %d)\n", c.Name, c.ID)
		return nil
	})
}
