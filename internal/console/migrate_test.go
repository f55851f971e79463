package console

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/migrate"
)

func TestMigrationsPage(t *testing.T) {
	e := newEnv(t)
	b0, err := blob.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := mailstore.New(e.db, b0, changes.New(), mailstore.Options{Logger: log})
	t.Cleanup(func() { st.Close() })
	mig := migrate.New(e.db, e.dir, st, migrate.Options{KeyFile: filepath.Join(t.TempDir(), migrate.KeyFileName), Logger: log})
	c, err := newConsole(e.dir, e.web, Options{Hostname: "mail.example.test", Resolver: fakeResolver{}, LookupTimeout: time.Second, Migrate: mig})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewTLSServer(c)
	t.Cleanup(e.srv.Close)

	b := e.browser()
	b.login("admin@acme.test")
	body := b.get("/migrations")
	b.want(200, "migrations page")
	checkPage(t, b, "/migrations", body)
	contains(t, body, `href="/migrations"`, "the navigation link")
	form := url.Values{"tenant": {"Acme"}, "address": {"alice@acme.test"}, "source_host": {"imap.old.test"}, "source_user": {"alice"}, "source_password": {"Old-Secret-1"}, "source_tls": {"none"}}
	body = b.post("/migrations", form)
	b.want(http.StatusUnprocessableEntity, "plaintext without consent")
	contains(t, body, "allow it explicitly", "the TLS refusal")
	lacks(t, body, "Old-Secret-1", "the source password shown back")
	form.Set("source_tls", "starttls")
	b.post("/migrations", form)
	b.want(http.StatusSeeOther, "queue a migration")
	body = b.get("/migrations?tenant=Acme")
	contains(t, body, "alice@imap.old.test:143", "the job's source")
	contains(t, body, `data-test="mig-status">queued`, "the job's status")
	contains(t, body, `data-refresh="5"`, "the page refreshing itself while a job is not finished")
	id := regexp.MustCompile(`data-test="mig-row-(\d+)"`).FindStringSubmatch(body)[1]
	csv := b.get("/migrations/" + id + "/report?format=csv")
	b.want(200, "CSV report")
	if !strings.HasPrefix(b.header.Get("Content-Type"), "text/csv") || !strings.Contains(csv, "total,alice@acme.test") {
		t.Errorf("report: %s %q", b.header.Get("Content-Type"), csv)
	}

	// Another tenant's administrator: nothing of Acme's.
	o := e.browser()
	o.login("admin@beta.test")
	body = o.get("/migrations")
	o.want(200, "own migrations page")
	lacks(t, body, "alice@acme.test", "another tenant's job")
	o.get("/migrations?tenant=Acme")
	o.want(404, "another tenant's migrations")
	o.get("/migrations/" + id + "/report?format=csv")
	o.want(404, "another tenant's report")
	o.post("/migrations/"+id+"/cancel", url.Values{})
	o.want(404, "cancel another tenant's job")
	o.post("/migrations", url.Values{"tenant": {"Beta"}, "address": {"alice@acme.test"}, "source_host": {"h"}, "source_user": {"u"}, "source_password": {"p"}})
	o.want(http.StatusUnprocessableEntity, "migrate into another tenant's account")

	b.get("/migrations?tenant=Acme")
	b.post("/migrations/"+id+"/cancel", url.Values{})
	b.want(http.StatusSeeOther, "cancel")
	body = b.get("/migrations?tenant=Acme")
	contains(t, body, `data-test="mig-status">stopped`, "the cancelled job")
	lacks(t, body, `data-refresh`, "a refresh with every job finished")

	// Italian.
	b.lang = "it"
	body = b.get("/migrations?tenant=Acme")
	contains(t, body, "Migrazioni", "the Italian page")
}
