package deliver_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/deliver"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/observe"
)

// Every outcome for a local mailbox is counted by result: stored (the quota warning too),
// refused here (unknown, disabled, too large, not allowed to post, a list member at its
// message quota) or by the store (over quota), or an error when nothing could be stored;
// remote recipients are not.
func TestDeliveriesCounted(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		ctx, dir, st, dl := f.ctx, f.dir, f.st, f.dl
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		_, err := dir.CreateCOS(ctx, directory.COSSpec{Name: "Tiny", QuotaMB: 1, Features: []string{"mail"}})
		must(err)
		_, err = dir.CreateCOS(ctx, directory.COSSpec{Name: "Small messages", QuotaMB: 100, Features: []string{"mail"}, MaxMessageSize: 1000})
		must(err)
		_, err = dir.CreateCOS(ctx, directory.COSSpec{Name: "One message", QuotaMB: 100, Features: []string{"mail"}, MaxMessages: 1})
		must(err)
		for _, a := range []directory.AccountSpec{
			{Address: "alice@x.test", COS: "Business Mail 100 MB"},
			{Address: "tiny@x.test", COS: "Tiny"},
			{Address: "small@x.test", COS: "Small messages"},
			{Address: "locked@x.test", COS: "Business Mail 100 MB", Status: directory.StatusLocked},
			{Address: "one@x.test", COS: "One message"},
		} {
			a.Password = "Correct-Horse-42"
			_, err := dir.CreateAccount(ctx, a)
			must(err)
		}
		for _, l := range []directory.ListSpec{{Address: "members@x.test", PostPolicy: "members"}, {Address: "all@x.test", PostPolicy: "anyone"}} {
			_, err := dir.CreateList(ctx, l)
			must(err)
			must(dir.AddListMember(ctx, l.Address, "alice@x.test"))
			must(dir.AddListMember(ctx, l.Address, "one@x.test"))
		}
		m := observe.NewMetrics()
		dl.SetObserver(m)
		count := func(result string) float64 { return testutil.ToFloat64(m.Deliveries.WithLabelValues(result)) }
		want := func(stage string, results map[string]float64) {
			t.Helper()
			for _, r := range []string{"stored", "overquota", "unknown", "disabled", "toolarge", "nomailbox", "notallowed", "error"} {
				if got := count(r); got != results[r] {
					t.Errorf("%s: deliveries{result=%q} = %v, want %v", stage, r, got, results[r])
				}
			}
		}
		send := func(body string, rcpts ...string) []error {
			t.Helper()
			raw := "From: <a@example.org>\r\nSubject: count\r\nMessage-ID: <c@example.org>\r\n\r\n" + body + "\r\n"
			errs, err := dl.Deliver(ctx, &deliver.Envelope{From: "a@example.org", Rcpts: rcpts, Raw: []byte(raw)})
			if err != nil {
				t.Fatalf("deliver to %v: %v", rcpts, err)
			}
			return errs
		}

		errs := send("hello", "alice@x.test", "nobody@x.test", "locked@x.test", "small@x.test", "friend@example.org")
		if errs[0] != nil || errs[1] == nil || errs[2] == nil || errs[3] != nil || errs[4] != nil {
			t.Fatalf("errors %v", errs)
		}
		want("small message", map[string]float64{"stored": 2, "unknown": 1, "disabled": 1})

		// 900 KB: too large for small@, over 80 % of tiny@'s quota (a warning is stored), and
		// then over its quota.
		big := strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0\r\n", 900<<10/64)
		errs = send(big, "tiny@x.test", "small@x.test")
		if errs[0] != nil || errs[1] == nil {
			t.Fatalf("errors %v", errs)
		}
		want("900 KB message", map[string]float64{"stored": 4, "unknown": 1, "disabled": 1, "toolarge": 1})
		errs = send(big, "tiny@x.test")
		if errs[0] == nil {
			t.Fatal("tiny@ over quota got the message")
		}
		want("over quota", map[string]float64{"stored": 4, "unknown": 1, "disabled": 1, "toolarge": 1, "overquota": 1})

		// one@ keeps as many messages as it may: a list leaves it out, as over quota.
		if errs := send("first", "one@x.test"); errs[0] != nil {
			t.Fatal(errs[0])
		}
		if errs := send("to the list", "members@x.test"); errs[0] == nil {
			t.Fatal("a stranger posted to a members-only list")
		}
		if errs := send("to the list", "all@x.test"); errs[0] != nil {
			t.Fatal(errs[0])
		}
		want("lists", map[string]float64{"stored": 6, "unknown": 1, "disabled": 1, "toolarge": 1, "overquota": 2, "notallowed": 1})

		// Nothing can be stored once the store is closed: an error for each mailbox.
		st.Close()
		if _, err := dl.Deliver(ctx, &deliver.Envelope{From: "a@example.org", Rcpts: []string{"alice@x.test"}, Raw: []byte("Subject: x\r\n\r\nx\r\n")}); err == nil {
			t.Fatal("delivered through a closed store")
		}
		want("closed store", map[string]float64{"stored": 6, "unknown": 1, "disabled": 1, "toolarge": 1, "overquota": 2, "notallowed": 1, "error": 1})
	})
}
