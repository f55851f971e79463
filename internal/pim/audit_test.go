package pim_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/postamail/posta/internal/davclient"
	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/db/dbtest"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/pim"
)

// fakeDAV serves the collections a CardDAV or CalDAV server would, whatever the URL.
type fakeDAV map[davclient.Kind][]davclient.Collection

func (f fakeDAV) Fetch(_ context.Context, kind davclient.Kind, _ string) ([]davclient.Collection, error) {
	return f[kind], nil
}

// TestImportsAudited: an import that changes an account's address books or calendars leaves
// an audit entry under the account's tenant, as the actor who imported, saying into which
// collection, from what kind of source and how many objects were new, updated, unchanged and
// refused; never the objects' text nor the DAV server's credentials. An import that changes
// nothing, or is refused, leaves none, and another tenant's administrator sees none of them.
func TestImportsAudited(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, d *db.DB) {
		f := setup(t, d)
		vcf, ics := file(t, "../vcard/testdata/google.vcf"), file(t, "../ical/testdata/google.ics")
		bad := pim.Source{Name: "bad.vcf", Data: []byte("hello\n")}
		dav := fakeDAV{
			davclient.AddressBooks: {{URL: "https://mario:dav-s3cret@dav.example.org/mario/amici/?token=t0k#x", Name: "Amici",
				Resources: []davclient.Resource{{Href: "/mario/amici/a.vcf", Data: []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a-1\r\nFN:Anna Neri\r\nEND:VCARD\r\n")}}}},
			davclient.Calendars: {{Name: "Personale",
				Resources: []davclient.Resource{{Href: "/mario/cal/e.ics", Data: []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e-1\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261205T100000Z\r\nSUMMARY:Cena segreta\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")}}}},
		}
		const askedURL = "https://mario:dav-s3cret@dav.example.org/?token=t0k"
		tenantA, _ := f.dir.GetTenant(f.sys, "Rossi Srl")
		tenantB, _ := f.dir.GetTenant(f.sys, "Bianchi SpA")
		for _, tt := range []struct {
			name   string
			do     func() error
			action string // "": no entry
			actor  string
			target string
			tenant int64
			after  map[string]any
		}{
			{"contacts from files, by the user", func() error {
				_, err := f.pim.ImportContacts(f.mario, "mario@rossi.it", "", vcf, bad)
				return err
			}, "contacts.import", "mario@rossi.it", "mario@rossi.it", tenantA.ID,
				map[string]any{"book": "Contacts", "source": "file", "files": 2.0, "imported": 2.0, "updated": 0.0, "skipped": 0.0, "errors": 1.0}},
			{"the same file again: nothing changed", func() error {
				_, err := f.pim.ImportContacts(f.mario, "mario@rossi.it", "", vcf)
				return err
			}, "", "", "", 0, nil},
			{"nothing valid: refused", func() error {
				_, err := f.pim.ImportContacts(f.mario, "mario@rossi.it", "", bad)
				return want(err, "invalid-vcard")
			}, "", "", "", 0, nil},
			{"another tenant's account: refused", func() error {
				_, err := f.pim.ImportCalendar(f.b, "mario@rossi.it", "", ics)
				return want(err, "")
			}, "", "", "", 0, nil},
			{"calendar from a file, by the operator", func() error {
				_, err := f.pim.ImportCalendar(f.sys, "mario@rossi.it", "Lavoro", ics)
				return err
			}, "calendar.import", "test", "mario@rossi.it", tenantA.ID,
				map[string]any{"calendar": "Lavoro", "source": "file", "files": 1.0, "imported": 3.0, "updated": 0.0, "skipped": 0.0, "errors": 0.0}},
			{"an address book from CardDAV", func() error {
				_, err := f.pim.ImportDAV(f.mario, davclient.AddressBooks, "mario@rossi.it", "", dav, askedURL)
				return err
			}, "contacts.import", "mario@rossi.it", "mario@rossi.it", tenantA.ID,
				map[string]any{"book": "Contacts", "source": "carddav", "server": "https://dav.example.org/mario/amici/", "imported": 1.0, "updated": 0.0, "skipped": 0.0, "errors": 0.0}},
			{"a calendar from CalDAV, by the tenant's administrator", func() error {
				_, err := f.pim.ImportDAV(f.b, davclient.Calendars, "luca@bianchi.it", "Casa", dav, askedURL)
				return err
			}, "calendar.import", "admin@bianchi.it", "luca@bianchi.it", tenantB.ID,
				map[string]any{"calendar": "Casa", "source": "caldav", "server": "https://dav.example.org/", "imported": 1.0, "updated": 0.0, "skipped": 0.0, "errors": 0.0}},
		} {
			before := imports(t, f.dir, f.sys)
			if err := tt.do(); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			got := imports(t, f.dir, f.sys)
			if tt.action == "" {
				if len(got) != len(before) {
					t.Errorf("%s: new entry %+v, want none", tt.name, got[0])
				}
				continue
			}
			if len(got) != len(before)+1 {
				t.Fatalf("%s: %d new entries, want 1", tt.name, len(got)-len(before))
			}
			e := got[0]
			if e.Action != tt.action || e.Actor != tt.actor || e.Target != tt.target || e.TenantID != tt.tenant || e.Before != "" {
				t.Errorf("%s: entry %+v", tt.name, e)
			}
			var after map[string]any
			if err := json.Unmarshal([]byte(e.After), &after); err != nil || !equal(after, tt.after) {
				t.Errorf("%s: after %s, want %v", tt.name, e.After, tt.after)
			}
			for _, secret := range []string{"BEGIN:", "Mario Rossi", "Riunione", "Anna", "Cena", "s3cret", "mario:", "t0k", ".vcf", ".ics"} {
				if strings.Contains(e.After, secret) {
					t.Errorf("%s: %q in the audit log: %s", tt.name, secret, e.After)
				}
			}
		}
		// Tenant B's administrator finds the import into its own account and none of tenant A's.
		if got := imports(t, f.dir, f.b); len(got) != 1 || got[0].TenantID != tenantB.ID || got[0].Target != "luca@bianchi.it" {
			t.Errorf("tenant B's administrator sees %+v", got)
		}
	})
}

// imports returns the import entries of the audit log the actor in ctx sees, newest first.
func imports(t *testing.T, dir *directory.Service, ctx context.Context) []directory.AuditEntry {
	t.Helper()
	all, err := dir.ListAudit(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []directory.AuditEntry
	for _, e := range all {
		if strings.HasSuffix(e.Action, ".import") {
			out = append(out, e)
		}
	}
	return out
}

// want returns nil when err is the directory's refusal of the kind (any refusal for ""),
// else an error saying what came instead.
func want(err error, kind string) error {
	var de *directory.Error
	switch {
	case kind == "" && (errors.Is(err, directory.ErrNotFound) || errors.Is(err, directory.ErrForbidden)):
		return nil
	case kind != "" && errors.As(err, &de) && de.Kind == kind:
		return nil
	}
	return errors.New("want a refusal " + kind + ", got " + errString(err))
}

func errString(err error) string {
	if err == nil {
		return "success"
	}
	return err.Error()
}

func equal(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
