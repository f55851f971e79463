// Command posta is the posta mail platform: one binary that serves SMTP, IMAP, POP3 and the web
// console, and administers them. The CLI is nouns then verbs ("posta account add ..."); every
// read command takes --json. It holds no business rules: each command calls the same packages
// the JSON API calls.
//
// Exit codes: 0 success, 1 the operation failed (a rule refused it, or an I/O error), 2 the
// command line is wrong.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// usageError marks a wrong command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command is one verb of a noun, or a top-level command.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every command gets: where to write, and the global flags.
type env struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	configPath     string
	// configFlag is set when --config was given on the command line (init writes there;
	// otherwise into its data directory, whatever $POSTA_CONFIG says).
	configFlag bool
}

func nouns() map[string]map[string]command {
	return map[string]map[string]command{
		"tenant":  tenantCommands(),
		"domain":  domainCommands(),
		"cos":     cosCommands(),
		"account": accountCommands(),
		"alias":   aliasCommands(),
		"list":    listCommands(),
		"store":   storeCommands(),
		"admin":   adminCommands(),
		"token":   tokenCommands(),
		"queue":   queueCommands(),

		"provision": provisionCommands(),
		"billing":   billingCommands(),

		"import":   importCommands(),
		"contacts": contactsCommands(),
		"calendar": calendarCommands(),
		"migrate":  migrateCommands(),
	}
}

func topLevel() map[string]command {
	return map[string]command{
		"init":       {"write a configuration and prepare the data directory", runInit},
		"serve":      {"run every service until SIGTERM", runServe},
		"quickstart": {"create a demo installation in ./posta-data and serve it", runQuickstart},
		"version":    {"print the version", runVersion},
		"trace":      {"what happened to a message (Message-ID) or to mail from or to an address: WHAT", runTrace},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, e *env, args []string) int {
	err := dispatch(ctx, e, args)
	if err == nil {
		return 0
	}
	fmt.Fprintf(e.stderr, "posta: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func dispatch(ctx context.Context, e *env, args []string) error {
	e.configPath = os.Getenv("POSTA_CONFIG")
	// Global flag: --config FILE (or -c) before the command.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "--config" || args[0] == "-c":
			if len(args) < 2 {
				return usagef("--config needs a file")
			}
			e.configPath, args, e.configFlag = args[1], args[2:], true
		case strings.HasPrefix(args[0], "--config="):
			e.configPath, args, e.configFlag = strings.TrimPrefix(args[0], "--config="), args[1:], true
		case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
			printUsage(e.stdout)
			return nil
		default:
			return usagef("unknown global flag %s", args[0])
		}
	}
	if e.configPath == "" {
		e.configPath = "posta-data/posta.toml"
	}
	if len(args) == 0 {
		printUsage(e.stderr)
		return usagef("no command given")
	}
	if args[0] == "help" {
		printUsage(e.stdout)
		return nil
	}
	if c, ok := topLevel()[args[0]]; ok {
		return c.run(ctx, e, args[1:])
	}
	verbs, ok := nouns()[args[0]]
	if !ok {
		return usagef("unknown command %q (see posta help)", args[0])
	}
	if len(args) < 2 || args[1] == "help" || args[1] == "-h" || args[1] == "--help" {
		printVerbs(e.stdout, args[0], verbs)
		if len(args) < 2 {
			return usagef("%s needs a verb", args[0])
		}
		return nil
	}
	c, ok := verbs[args[1]]
	if !ok {
		printVerbs(e.stderr, args[0], verbs)
		return usagef("unknown verb %q for %s", args[1], args[0])
	}
	return c.run(ctx, e, args[2:])
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: posta [--config FILE] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	top := topLevel()
	for _, name := range sortedKeys(top) {
		fmt.Fprintf(w, "  %-12s %s\n", name, top[name].summary)
	}
	for _, noun := range sortedKeys(nouns()) {
		fmt.Fprintf(w, "  %-12s %s\n", noun, strings.Join(sortedKeys(nouns()[noun]), "|"))
	}
	fmt.Fprintln(w, "\nThe configuration is read from --config, $POSTA_CONFIG or posta-data/posta.toml.")
}

func printVerbs(w io.Writer, noun string, verbs map[string]command) {
	fmt.Fprintf(w, "usage: posta %s VERB [ARGS]\n\n", noun)
	for _, v := range sortedKeys(verbs) {
		fmt.Fprintf(w, "  %-14s %s\n", v, verbs[v].summary)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlags("version")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]string{"version": version})
	}
	fmt.Fprintf(e.stdout, "posta %s\n", version)
	return nil
}
