package migrate

import (
	"strings"

	"github.com/postamail/posta/internal/mailstore"
)

// SourceFolder is one folder as the source server lists it.
type SourceFolder struct {
	Name  string   // as listed (decoded from modified UTF-7)
	Delim string   // the hierarchy separator; "" for a flat namespace
	Attrs []string // LIST attributes, special use included
}

// commonNames maps folder names, in the languages customers bring, to the special use of the
// destination mailbox they become. Keys are lower case.
var commonNames = map[string]string{}

func init() {
	for use, names := range map[string][]string{
		mailstore.UseSent: {"sent", "sent items", "sent messages", "sent mail", "sent-mail", "posta inviata", "elementi inviati",
			"inviati", "inviata", "gesendet", "gesendete elemente", "gesendete objekte", "éléments envoyés", "elements envoyes",
			"envoyés", "messages envoyés", "enviados", "elementos enviados", "correo enviado", "verzonden items", "outbox sent"},
		mailstore.UseDrafts: {"drafts", "draft", "bozze", "entwürfe", "entwurf", "brouillons", "borradores", "concepten"},
		mailstore.UseTrash: {"trash", "deleted items", "deleted messages", "deleted", "bin", "cestino", "elementi eliminati",
			"posta eliminata", "papierkorb", "gelöschte elemente", "gelöschte objekte", "corbeille", "éléments supprimés",
			"papelera", "elementos eliminados", "prullenbak"},
		mailstore.UseJunk: {"junk", "spam", "junk e-mail", "junk email", "junk mail", "bulk mail", "posta indesiderata",
			"indesiderata", "spamverdacht", "junk-e-mail", "courrier indésirable", "pourriel", "correo no deseado"},
		mailstore.UseArchive: {"archive", "archives", "archivio", "archiv", "archivo", "archief"},
	} {
		for _, n := range names {
			commonNames[n] = use
		}
	}
}

// specialUses are the special-use attributes a destination mailbox may take from a folder.
var specialUses = []string{mailstore.UseSent, mailstore.UseDrafts, mailstore.UseTrash, mailstore.UseJunk, mailstore.UseArchive}

// Mapping is where a source folder goes.
type Mapping struct {
	Source     string `json:"source"`
	Dest       string `json:"dest,omitempty"`
	SpecialUse string `json:"special_use,omitempty"`
	// Skip says why the folder is not copied ("no-select", "virtual"); "" when it is.
	Skip string `json:"skip,omitempty"`
}

// hasAttr reports whether attrs holds a (case-insensitively).
func hasAttr(attrs []string, a string) bool {
	for _, x := range attrs {
		if strings.EqualFold(x, a) {
			return true
		}
	}
	return false
}

// MapFolders decides the destination of every source folder: by special use first, then by
// common names in several languages, else by name with the hierarchy separator translated to
// posta's. A prefix shared by every folder ("INBOX." on Courier and Cyrus) is dropped; virtual
// folders (\All, \Flagged: Gmail's All Mail and Starred) and \Noselect ones are not copied.
// specialDest names the destination's mailbox of each special use (defaults when missing).
func MapFolders(folders []SourceFolder, specialDest map[string]string) []Mapping {
	inboxPrefix := ""
	if len(folders) > 1 {
		for _, f := range folders {
			if strings.EqualFold(f.Name, "INBOX") {
				continue
			}
			p := "INBOX" + f.Delim
			if f.Delim == "" || len(f.Name) <= len(p) || !strings.EqualFold(f.Name[:len(p)], p) {
				inboxPrefix = ""
				break
			}
			inboxPrefix = f.Name[:len(p)]
		}
	}
	taken := map[string]bool{} // special uses already given to a folder
	out := make([]Mapping, len(folders))
	// Folders marked with a special use win over folders that only have a common name.
	for i, f := range folders {
		out[i].Source = f.Name
		switch {
		case hasAttr(f.Attrs, `\Noselect`) || hasAttr(f.Attrs, `\NonExistent`):
			out[i].Skip = "no-select"
		case hasAttr(f.Attrs, mailstore.UseAll) || hasAttr(f.Attrs, mailstore.UseFlagged):
			out[i].Skip = "virtual"
		case strings.EqualFold(f.Name, "INBOX"):
			out[i].Dest = mailstore.Inbox
		default:
			for _, u := range specialUses {
				if hasAttr(f.Attrs, u) && !taken[u] {
					out[i].SpecialUse, taken[u] = u, true
					break
				}
			}
		}
	}
	for i, f := range folders {
		if out[i].Skip != "" || out[i].Dest != "" || out[i].SpecialUse != "" {
			continue
		}
		name := f.Name
		if inboxPrefix != "" {
			name = name[len(inboxPrefix):]
		}
		leaf := name
		if f.Delim != "" && strings.Count(name, f.Delim) == 1 && strings.HasPrefix(name, "[Gmail]"+f.Delim) {
			leaf = name[len("[Gmail]")+len(f.Delim):]
		}
		if f.Delim == "" || !strings.Contains(leaf, f.Delim) {
			if u, ok := commonNames[strings.ToLower(leaf)]; ok && !taken[u] {
				out[i].SpecialUse, taken[u] = u, true
				continue
			}
		}
		out[i].Dest = translate(name, f.Delim)
	}
	for i := range out {
		if out[i].SpecialUse != "" {
			d := specialDest[out[i].SpecialUse]
			if d == "" {
				d = defaultName(out[i].SpecialUse)
			}
			out[i].Dest = d
		}
	}
	return out
}

func defaultName(use string) string {
	for _, m := range mailstore.DefaultMailboxes {
		if m.SpecialUse == use {
			return m.Name
		}
	}
	return strings.TrimPrefix(use, `\`)
}

// translate turns a source name into a destination name: levels split on the source's
// separator and joined with posta's; a level holding posta's separator has it replaced, and
// an empty level is named "_".
func translate(name, delim string) string {
	var levels []string
	if delim == "" {
		levels = []string{name}
	} else {
		levels = strings.Split(name, delim)
	}
	for i, l := range levels {
		l = strings.ReplaceAll(strings.ToValidUTF8(l, "_"), mailstore.Separator, "-")
		l = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || r == '*' || r == '%' {
				return '_'
			}
			return r
		}, l)
		if strings.TrimSpace(l) == "" {
			l = "_"
		}
		levels[i] = l
	}
	if strings.EqualFold(levels[0], "INBOX") {
		levels[0] = mailstore.Inbox
	}
	return strings.Join(levels, mailstore.Separator)
}
