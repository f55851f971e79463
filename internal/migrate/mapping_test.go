package migrate

import (
	"testing"

	"github.com/postamail/posta/internal/mailstore"
)

func TestMapFolders(t *testing.T) {
	special := map[string]string{mailstore.UseSent: "Sent", mailstore.UseTrash: "Trash"}
	tests := []struct {
		name    string
		folders []SourceFolder
		want    []Mapping
	}{
		{"special use wins over names", []SourceFolder{
			{Name: "INBOX", Delim: "/"}, {Name: "Sent", Delim: "/"}, {Name: "Outgoing", Delim: "/", Attrs: []string{`\Sent`}},
		}, []Mapping{{Source: "INBOX", Dest: "INBOX"}, {Source: "Sent", Dest: "Sent"}, {Source: "Outgoing", Dest: "Sent", SpecialUse: `\Sent`}}},
		{"italian and german names", []SourceFolder{
			{Name: "Posta inviata", Delim: "."}, {Name: "Cestino", Delim: "."}, {Name: "Entwürfe", Delim: "."}, {Name: "Posta indesiderata", Delim: "."}, {Name: "Archivio", Delim: "."},
		}, []Mapping{{Source: "Posta inviata", Dest: "Sent", SpecialUse: `\Sent`}, {Source: "Cestino", Dest: "Trash", SpecialUse: `\Trash`},
			{Source: "Entwürfe", Dest: "Drafts", SpecialUse: `\Drafts`}, {Source: "Posta indesiderata", Dest: "Junk", SpecialUse: `\Junk`}, {Source: "Archivio", Dest: "Archive", SpecialUse: `\Archive`}}},
		{"courier INBOX prefix and separator", []SourceFolder{
			{Name: "INBOX", Delim: "."}, {Name: "INBOX.Sent", Delim: "."}, {Name: "INBOX.Clienti.Rossi", Delim: "."}, {Name: "INBOX.Deleted Items", Delim: "."},
		}, []Mapping{{Source: "INBOX", Dest: "INBOX"}, {Source: "INBOX.Sent", Dest: "Sent", SpecialUse: `\Sent`}, {Source: "INBOX.Clienti.Rossi", Dest: "Clienti/Rossi"},
			{Source: "INBOX.Deleted Items", Dest: "Trash", SpecialUse: `\Trash`}}},
		{"gmail", []SourceFolder{
			{Name: "INBOX", Delim: "/"}, {Name: "[Gmail]", Delim: "/", Attrs: []string{`\Noselect`}}, {Name: "[Gmail]/All Mail", Delim: "/", Attrs: []string{`\All`}},
			{Name: "[Gmail]/Sent Mail", Delim: "/"}, {Name: "[Gmail]/Starred", Delim: "/", Attrs: []string{`\Flagged`}}, {Name: "[Gmail]/Spam", Delim: "/"},
		}, []Mapping{{Source: "INBOX", Dest: "INBOX"}, {Source: "[Gmail]", Skip: "no-select"}, {Source: "[Gmail]/All Mail", Skip: "virtual"},
			{Source: "[Gmail]/Sent Mail", Dest: "Sent", SpecialUse: `\Sent`}, {Source: "[Gmail]/Starred", Skip: "virtual"}, {Source: "[Gmail]/Spam", Dest: "Junk", SpecialUse: `\Junk`}}},
		{"french and spanish, second sent folder kept by name", []SourceFolder{
			{Name: "Éléments envoyés", Delim: "/"}, {Name: "Enviados", Delim: "/"}, {Name: "Corbeille", Delim: "/"},
		}, []Mapping{{Source: "Éléments envoyés", Dest: "Sent", SpecialUse: `\Sent`}, {Source: "Enviados", Dest: "Enviados"}, {Source: "Corbeille", Dest: "Trash", SpecialUse: `\Trash`}}},
		{"slash inside a level of a dotted hierarchy", []SourceFolder{
			{Name: "Fatture 2024/25.Marzo", Delim: "."}, {Name: "Nested.Sent", Delim: "."},
		}, []Mapping{{Source: "Fatture 2024/25.Marzo", Dest: "Fatture 2024-25/Marzo"}, {Source: "Nested.Sent", Dest: "Nested/Sent"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MapFolders(tt.folders, special)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d mappings, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("%q: got %+v, want %+v", tt.folders[i].Name, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzTranslate checks that whatever a source calls a folder, its destination name is one the
// store accepts.
func FuzzTranslate(f *testing.F) {
	f.Add("INBOX.Clienti.Rossi", ".")
	f.Add("Café ☕/Ελληνικά", "/")
	f.Add("a//b", "/")
	f.Add("*%\x01", "")
	f.Fuzz(func(t *testing.T, name, delim string) {
		if name == "" || len(delim) > 1 {
			return
		}
		got := translate(name, delim)
		if _, err := mailstore.NormalizeName(got); err != nil && len(got) <= 1000 {
			t.Fatalf("translate(%q, %q) = %q: %v", name, delim, got, err)
		}
	})
}
