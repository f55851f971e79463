package imapserver

import (
	"fmt"
	"strings"
	"testing"
)

// TestThreadReferencesSubjects checks the subject grouping of THREAD=REFERENCES (RFC 5256
// REFERENCES step 5): threads of the root set with the same base subject are merged.
func TestThreadReferencesSubjects(t *testing.T) {
	type m struct{ id, refs, subject string }
	tests := []struct {
		name string
		msgs []m // sent an hour apart, in this order
		want string
	}{
		{"same subject, neither a reply: siblings under a placeholder",
			[]m{{"1@x", "", "Meeting"}, {"2@x", "", "Meeting"}}, "((1)(2))"},
		{"a reply without references joins the original",
			[]m{{"1@x", "", "Meeting"}, {"2@x", "", "Re: Meeting"}}, "(1 2)"},
		{"the original wins even when it comes later",
			[]m{{"1@x", "", "Re: Meeting"}, {"2@x", "", "Meeting"}}, "(2 1)"},
		{"forwards count as replies",
			[]m{{"1@x", "", "Budget"}, {"2@x", "", "Fwd: Budget"}, {"3@x", "", "Budget (fwd)"}, {"4@x", "", "[Fwd: Budget]"}}, "(1 (2)(3)(4))"},
		{"two replies: siblings under a placeholder",
			[]m{{"1@x", "", "Re: Meeting"}, {"2@x", "", "RE: meeting"}}, "((1)(2))"},
		{"a list tag is not a reply",
			[]m{{"1@x", "", "[team] Plan"}, {"2@x", "", "Plan"}}, "((1)(2))"},
		{"a placeholder root takes the thread with its subject",
			[]m{{"3@x", "<root@x>", "Re: Plan"}, {"4@x", "<root@x>", "Re: Plan"}, {"5@x", "", "Re: Plan"}}, "((1)(2)(3))"},
		{"two placeholders merge their children",
			[]m{{"1@x", "<a@x>", "X"}, {"2@x", "<a@x>", "Re: X"}, {"3@x", "<b@x>", "Re: X"}, {"4@x", "<b@x>", "Re: X"}}, "((1)(2)(3)(4))"},
		{"empty subjects are never grouped",
			[]m{{"1@x", "", ""}, {"2@x", "", ""}, {"3@x", "", "Re:"}}, "(1)(2)(3)"},
		{"different subjects stay apart; real references first",
			[]m{{"1@x", "", "Plan"}, {"2@x", "<1@x>", "Re: Plan"}, {"3@x", "", "Lunch"}, {"4@x", "", "Re: Plan"}}, "(1 (2)(4))(3)"},
		{"three threads, one subject, an original among them",
			[]m{{"1@x", "", "Re: Trip"}, {"2@x", "", "Trip"}, {"3@x", "", "Re: Trip"}}, "(2 (1)(3))"},
	}
	e := setup(t)
	c := login(t, e, "mario@x.test")
	for i, tt := range tests {
		box := fmt.Sprintf("T%d", i)
		c.ok("CREATE " + box)
		for j, mm := range tt.msgs {
			h := fmt.Sprintf("From: a@x.test\r\nSubject: %s\r\nDate: Mon, 1 Jan 2024 %02d:00:00 +0000\r\nMessage-ID: <%s>\r\n", mm.subject, 10+j, mm.id)
			if mm.refs != "" {
				h += "References: " + mm.refs + "\r\n"
			}
			e.deliver(t, "mario@x.test", box, h+"\r\nbody\r\n")
		}
		c.ok("SELECT " + box)
		got := c.ok("THREAD REFERENCES UTF-8 ALL")
		if line := strings.SplitN(got, "\n", 2)[0]; line != "* THREAD "+tt.want {
			t.Errorf("%s: %s, want * THREAD %s", tt.name, line, tt.want)
		}
	}
}

func TestIsReplyOrForward(t *testing.T) {
	for s, want := range map[string]bool{
		"Re: x": true, "RE : x": true, "Fw: x": true, "fwd[2]: x": true, "[list] Re: x": true, "x (fwd)": true,
		"[Fwd: x]": true, "x": false, "[list] x": false, "Really: x": false, "Refund": false, "": false,
	} {
		if got := isReplyOrForward(s); got != want {
			t.Errorf("isReplyOrForward(%q) = %v", s, got)
		}
	}
}

// FuzzIsReplyOrForward: any subject is classified without panicking, and the same way whatever
// its spacing.
func FuzzIsReplyOrForward(f *testing.F) {
	for _, s := range []string{"Re: x", "[a][b] fwd [c] : y", "x (FWD)", "[Fwd: [Fwd: z]]", "re", "[", "re[:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := isReplyOrForward(s)
		if spaced := isReplyOrForward("  " + strings.ReplaceAll(s, " ", "   ") + " "); spaced != got {
			t.Fatalf("%q: %v, spaced out %v", s, got, spaced)
		}
	})
}
