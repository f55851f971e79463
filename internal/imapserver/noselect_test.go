package imapserver

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestDeleteWithChildren follows RFC 9051 §6.3.4: deleting a mailbox that has children removes
// its messages and keeps it as a \Noselect placeholder; a placeholder with children cannot be
// deleted, one without children can; it cannot be selected, and CREATE makes it a mailbox again.
func TestDeleteWithChildren(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	c := login(t, e, "mario@x.test")
	c.ok("CREATE foo/bar")
	c.ok("CREATE blurdybloop")
	c.ok("CREATE keep/child")
	for _, s := range []string{"one", "two"} {
		e.deliver(t, "mario@x.test", "foo", msg(s, s))
	}
	e.deliver(t, "mario@x.test", "keep", msg("three", "3"))
	// Another session has foo selected and sees its messages expunged.
	other := login(t, e, "mario@x.test")
	other.ok("SELECT foo")

	steps := []struct{ cmd, want string }{
		{`LIST "" *`, `\* LIST \(\\HasChildren\) "/" foo\n`},
		{`DELETE blurdybloop`, `^OK`},
		{`DELETE foo`, `^OK`},
		{`LIST "" *`, `\* LIST \(\\Noselect \\HasChildren\) "/" foo\n\* LIST \(\\HasNoChildren\) "/" foo/bar\n`},
		{`LIST "" %`, `\* LIST \(\\Noselect \\HasChildren\) "/" foo\n`},
		{`LIST "" foo RETURN (STATUS (MESSAGES))`, `^\* LIST \(\\Noselect \\HasChildren\) "/" foo\nOK`},
		{`SELECT foo`, `^NO \[NONEXISTENT\]`},
		{`EXAMINE foo`, `^NO \[NONEXISTENT\]`},
		{`STATUS foo (MESSAGES)`, `^NO \[NONEXISTENT\]`},
		{"APPEND foo {3+}\r\nx\r\n", `^NO \[TRYCREATE\]`},
		{`DELETE foo`, `^NO \[CANNOT\]`},
		{`DELETE foo/bar`, `^OK`},
		{`LIST "" *`, `\* LIST \(\\Noselect \\HasNoChildren\) "/" foo\n`},
		{`DELETE foo`, `^OK`},
		{`LIST "" foo*`, `^OK`},
		{`DELETE foo`, `^NO \[NONEXISTENT\]`},
		// A placeholder made a mailbox again by CREATE.
		{`DELETE keep`, `^OK`},
		{`CREATE keep`, `^OK`},
		{`LIST "" keep`, `\* LIST \(\\HasChildren\) "/" keep\n`},
		{`STATUS keep (MESSAGES)`, `\* STATUS keep \(MESSAGES 0\)`},
	}
	for i, s := range steps {
		if i == 3 {
			if got := other.ok("NOOP"); !strings.Contains(got, "* 2 EXPUNGE") || !strings.Contains(got, "* 1 EXPUNGE") {
				t.Errorf("the session with foo selected: %s", got)
			}
		}
		u, st := c.do(s.cmd)
		got := strings.Join(append(u, st), "\n")
		if !regexp.MustCompile(s.want).MatchString(got) {
			t.Errorf("%s:\n%s\nwant %s", s.cmd, got, s.want)
		}
	}
	if problems, err := e.store.Verify(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("store after deletes: %v %v", problems, err)
	}
}
