package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/server"
)

// withDirectory opens the installation and runs fn as the system actor (the operator on the
// server).
func withDirectory(ctx context.Context, e *env, fn func(ctx context.Context, srv *server.Server, dir *directory.Service) error) error {
	srv, err := openServer(ctx, e)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx = directory.WithActor(ctx, directory.SystemActor(cliActor()))
	return fn(ctx, srv, srv.Directory)
}

// cliActor names the operator in the audit log: "cli:USER".
func cliActor() string {
	u := os.Getenv("SUDO_USER")
	if u == "" {
		u = os.Getenv("USER")
	}
	if u == "" {
		u = strconv.Itoa(os.Getuid())
	}
	return "cli:" + u
}

// readPassword reads a password from a file ("-" for standard input), or generates one when
// generate is set, in which case the caller prints it. Passwords are never taken from the
// command line, where other users could see them.
func readPassword(e *env, file string, generate bool) (pw string, generated bool, err error) {
	switch {
	case generate && file != "":
		return "", false, usagef("give either --password-file or --generate-password, not both")
	case generate:
		return auth.GeneratePassword(16), true, nil
	case file == "":
		return "", false, usagef("a password is required: --password-file FILE (- for standard input) or --generate-password")
	}
	var b []byte
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(e.stdin, 4096))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return "", false, fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), false, nil
}

func fmtTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04")
}

func fmtMB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

// optString returns a pointer to the flag's value when the flag was given.
func optString(set map[string]bool, name, v string) *string {
	if set[name] {
		return &v
	}
	return nil
}
