package migrate

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
)

func TestCreateChecksAndIsolation(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newDest(t, d)
		other, err := e.dir.GetTenant(e.sys, "Altra SpA")
		if err != nil {
			t.Fatal(err)
		}
		admin := directory.WithActor(t.Context(), directory.Actor{Role: directory.RoleTenantAdmin, TenantID: other.ID, Name: "admin@other.test"})
		ok := Request{Address: "anna@new.test", SourceHost: "imap.old.test", SourceUser: "anna", SourcePassword: "pw"}
		for _, tt := range []struct {
			name  string
			mod   func(*Request)
			kind  string
			field string
		}{
			{"plaintext not allowed", func(r *Request) { r.SourceTLS = TLSNone }, "invalid-argument", "source_tls"},
			{"bad tls", func(r *Request) { r.SourceTLS = "ssl" }, "invalid-argument", "source_tls"},
			{"no host", func(r *Request) { r.SourceHost = "" }, "invalid-argument", "source_host"},
			{"url as host", func(r *Request) { r.SourceHost = "imaps://x/" }, "invalid-argument", "source_host"},
			{"no password", func(r *Request) { r.SourcePassword = "" }, "invalid-argument", "source_password"},
			{"bad port", func(r *Request) { r.SourcePort = 70000 }, "invalid-argument", "source_port"},
			{"unknown account", func(r *Request) { r.Address = "nobody@new.test" }, "not-found", ""},
		} {
			r := ok
			tt.mod(&r)
			_, err := e.svc.Create(e.sys, r)
			var de *directory.Error
			if !errors.As(err, &de) || de.Kind != tt.kind || de.Field != tt.field {
				t.Errorf("%s: %v, want %s on %q", tt.name, err, tt.kind, tt.field)
			}
		}
		j, err := e.svc.Create(e.sys, ok)
		if err != nil {
			t.Fatal(err)
		}
		if j.SourcePort != 993 || j.SourceTLS != TLSImplicit || j.Status != StatusQueued {
			t.Errorf("defaults: %+v", j)
		}
		var secret []byte
		d.QueryRowContext(t.Context(), `SELECT secret FROM migration_jobs WHERE id = ?`, j.ID).Scan(&secret)
		if len(secret) == 0 || strings.Contains(string(secret), "pw") {
			t.Errorf("the source password is not stored encrypted: %q", secret)
		}
		fi, err := os.Stat(e.svc.sealer.path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file: %v %v", fi, err)
		}
		// Another tenant's administrator sees nothing of it and cannot migrate into it.
		if _, err := e.svc.Create(admin, ok); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("cross-tenant create: %v", err)
		}
		if _, err := e.svc.Get(admin, j.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("cross-tenant get: %v", err)
		}
		if _, err := e.svc.Cancel(admin, j.ID); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("cross-tenant cancel: %v", err)
		}
		if list, err := e.svc.List(admin, Filter{}); err != nil || len(list) != 0 {
			t.Errorf("cross-tenant list: %d jobs, %v", len(list), err)
		}
		if _, err := e.svc.List(admin, Filter{Tenant: "Nuova Srl"}); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("cross-tenant list by name: %v", err)
		}
		// Cancelling a queued job ends it and erases the password.
		c, err := e.svc.Cancel(e.sys, j.ID)
		if err != nil || c.Status != StatusCancelled {
			t.Fatalf("cancel: %+v %v", c, err)
		}
		d.QueryRowContext(t.Context(), `SELECT secret FROM migration_jobs WHERE id = ?`, j.ID).Scan(&secret)
		if secret != nil {
			t.Error("a cancelled job keeps the source password")
		}
		if _, err := e.svc.Cancel(e.sys, j.ID); err == nil {
			t.Error("cancelling an ended job succeeded")
		}
		audit, err := e.dir.ListAudit(e.sys, "Nuova Srl", 10)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, a := range audit {
			actions = append(actions, a.Action)
			if strings.Contains(a.After, `"pw"`) {
				t.Errorf("the audit log holds the source password: %+v", a)
			}
		}
		if !strings.Contains(strings.Join(actions, " "), "migration.cancel migration.create") {
			t.Errorf("audit actions %v", actions)
		}
	})
}

func TestBulk(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		e := newDest(t, d)
		def := Request{SourceTLS: TLSStartTLS, DryRun: true}
		good := "Source host;Source user;Source password;Destination address\r\n" +
			"imap.old.test;anna;Pw-1;anna@new.test\r\n" +
			"imap.old.test;bruno;Pw-2;bruno@new.test\r\n"
		res, err := e.svc.Bulk(e.sys, "Nuova Srl", []byte(good), def)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != 2 || res.Jobs[0].SourceTLS != TLSStartTLS || res.Jobs[0].SourcePort != 143 || !res.Jobs[1].DryRun || res.Jobs[1].SourceUser != "bruno" {
			t.Fatalf("bulk jobs: %+v", res.Jobs)
		}
		for _, tt := range []struct {
			name, file, want string
		}{
			{"other tenant's account", "host,user,password,address\nimap.old.test,x,p,other@other.test\n", "row 2"},
			{"missing password", "host,user,password,address\nimap.old.test,x,,anna@new.test\n", "source password is required"},
			{"unknown column", "host,user,password,address,colore\nimap.old.test,x,p,anna@new.test,blu\n", `"colore"`},
			{"no address column", "host,user,password\nimap.old.test,x,p\n", "no address column"},
			{"bad port", "host,user,password,address,port\nimap.old.test,x,p,anna@new.test,abc\n", "not a number"},
		} {
			_, err := e.svc.Bulk(e.sys, "Nuova Srl", []byte(tt.file), def)
			var de *directory.Error
			if !errors.As(err, &de) || de.Kind != "invalid-spreadsheet" || !strings.Contains(de.Msg, tt.want) {
				t.Errorf("%s: %v, want invalid-spreadsheet with %q", tt.name, err, tt.want)
			}
		}
		if list, _ := e.svc.List(e.sys, Filter{Tenant: "Nuova Srl"}); len(list) != 2 {
			t.Errorf("refused files queued jobs: %d in all", len(list))
		}
	})
}

func TestLimiter(t *testing.T) {
	for _, tt := range []struct {
		name        string
		maxBytes    int64
		maxMsgs     int
		bytes, msgs int64
		want        time.Duration
	}{
		{"none", 0, 0, 1 << 30, 1000, 0},
		{"bytes", 1 << 20, 0, 1 << 19, 1, 500 * time.Millisecond},
		{"messages", 0, 40, 10, 10, 250 * time.Millisecond},
		{"the slower of the two", 1 << 20, 100, 1 << 18, 50, 500 * time.Millisecond},
	} {
		l := &limiter{start: time.Now(), maxBytes: tt.maxBytes, maxMsgs: tt.maxMsgs}
		start := time.Now()
		if err := l.wait(t.Context(), tt.bytes, int(tt.msgs)); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got < tt.want-20*time.Millisecond || got > tt.want+2*time.Second {
			t.Errorf("%s: waited %v, want about %v", tt.name, got, tt.want)
		}
	}
	// A cancelled job stops waiting.
	l := &limiter{start: time.Now(), maxMsgs: 1}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.wait(ctx, 0, 100); err == nil {
		t.Error("wait ignored the cancellation")
	}
}
