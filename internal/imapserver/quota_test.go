package imapserver

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestMessageQuota: a class of service with a message cap reports the MESSAGE resource (RFC
// 9208) and refuses APPEND and COPY beyond it with NO [OVERQUOTA]; MOVE and expunges are free.
func TestMessageQuota(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	c := login(t, e, "mario@x.test")
	if got := c.ok(`GETQUOTA ""`); !strings.Contains(got, `* QUOTA "" (STORAGE 0 97)`) {
		t.Fatalf("no cap: %s", got)
	}
	if _, err := e.store.DB().ExecContext(ctx, `UPDATE cos SET max_messages = 3`); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, "mario@x.test", "INBOX", msg("one", "1"))
	e.deliver(t, "mario@x.test", "INBOX", msg("two", "2"))
	m := msg("three", "3")
	appendCmd := fmt.Sprintf("APPEND INBOX {%d+}\r\n%s", len(m), m)
	steps := []struct{ cmd, want string }{
		{`CAPABILITY`, `QUOTA=RES-STORAGE QUOTA=RES-MESSAGE`},
		{`GETQUOTAROOT INBOX`, `\* QUOTA "" \(STORAGE 1 97 MESSAGE 2 3\)`},
		{"SELECT INBOX", `^(?s).*OK`},
		{"COPY 1:2 Archive", `^NO \[OVERQUOTA\]`},
		{"MOVE 2 Archive", `^(?s).*OK`},
		{"COPY 1 Archive", `^(?s).*OK \[COPYUID`},
		{`GETQUOTA ""`, `MESSAGE 3 3\)`},
		{appendCmd, `^NO \[OVERQUOTA\]`},
		{"STORE 1 +FLAGS (\\Deleted)", `^(?s).*OK`},
		{"EXPUNGE", `^(?s).*OK`},
		{appendCmd, `(?m)^OK \[APPENDUID`},
		{fmt.Sprintf("APPEND INBOX {%d+}\r\n%s {%d+}\r\n%s", len(m), m, len(m), m), `^NO \[OVERQUOTA\]`},
	}
	for _, s := range steps {
		u, st := c.do(s.cmd)
		got := strings.Join(append(u, st), "\n")
		if !regexp.MustCompile(s.want).MatchString(got) {
			t.Errorf("%.40q:\n%s\nwant %s", s.cmd, got, s.want)
		}
	}
	if q, _ := e.store.Quota(ctx, e.accounts["mario@x.test"]); q.Messages != 3 || q.LimitMessages != 3 {
		t.Errorf("quota %+v", q)
	}
}
