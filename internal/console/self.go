package console

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/pim"
)

// Self-service: a mailbox user logged in with its address and password manages its own
// account (name, password, forwarding, auto-reply) and the app passwords of its mail programs.
// Every call names the user's own account; the directory allows a user nothing else.

// IsUser reports whether the actor is a mailbox user managing its own account.
func (v *view) IsUser() bool { return v.Actor.Role == directory.RoleUser }

// admin wraps a page of the administration: for a mailbox user it does not exist.
func (c *Console) admin(h handler) http.Handler {
	return c.auth(func(w http.ResponseWriter, r *http.Request, v *view) error {
		if v.IsUser() {
			return directory.ErrNotFound
		}
		return h(w, r, v)
	})
}

// self wraps a self-service page: for an administrator (who has no mailbox) it does not exist.
func (c *Console) self(h handler) http.Handler {
	return c.auth(func(w http.ResponseWriter, r *http.Request, v *view) error {
		if !v.IsUser() {
			return directory.ErrNotFound
		}
		return h(w, r, v)
	})
}

// selfPath reports whether p is a page of the self-service, where a user may be sent after
// logging in.
func selfPath(p string) bool {
	p, _, _ = strings.Cut(p, "?")
	return p == "/me" || strings.HasPrefix(p, "/me/")
}

// selfID names the user's own account in directory calls.
func selfID(v *view) string { return strconv.FormatInt(v.Actor.AccountID, 10) }

// selfPage is a user's own account with the forms that change it.
type selfPage struct {
	Account  *directory.Account
	Apps     int
	Profile  *form
	Password *form
	Forward  *form
	Reply    *form
	// Import is the form importing a .vcf or .ics file (nil: not offered), with the result of
	// the last import and the account's number of contacts and calendar objects.
	Import       *form
	ImportResult *pim.Result
	Contacts     int
	Events       int
}

func (c *Console) selfAccount(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showSelf(w, r, v, selfPage{}, http.StatusOK)
}

// showSelf renders the user's page; forms given in p (a refused one) replace the fresh ones.
func (c *Console) showSelf(w http.ResponseWriter, r *http.Request, v *view, p selfPage, status int) error {
	ctx := r.Context()
	a, err := c.dir.GetAccount(ctx, selfID(v))
	if err != nil {
		return err
	}
	apps, err := c.dir.ListAppPasswords(ctx, selfID(v))
	if err != nil {
		return err
	}
	p.Account, p.Apps = a, len(apps)
	if p.Profile == nil {
		p.Profile = newForm(v.L, url.Values{"display_name": {a.DisplayName}})
	}
	if p.Password == nil {
		p.Password = newForm(v.L, nil)
	}
	if p.Forward == nil {
		p.Forward = newForm(v.L, url.Values{"forward_to": {strings.Join(a.ForwardTo, "\n")}})
		if a.ForwardKeep {
			p.Forward.Set("forward_keep", "on")
		}
	}
	if p.Reply == nil {
		p.Reply = newForm(v.L, url.Values{"auto_reply_subject": {a.AutoSubject}, "auto_reply_body": {a.AutoBody}})
		if a.AutoReply {
			p.Reply.Set("auto_reply", "on")
		}
	}
	if c.opts.PIM != nil {
		if p.Import == nil {
			p.Import = newForm(v.L, nil)
		}
		books, err := c.opts.PIM.AddressBooks(ctx, selfID(v))
		if err != nil {
			return err
		}
		for _, b := range books {
			p.Contacts += b.Contacts
		}
		cals, err := c.opts.PIM.Calendars(ctx, selfID(v))
		if err != nil {
			return err
		}
		for _, c := range cals {
			p.Events += c.Objects
		}
	}
	v.Nav, v.Title, v.Data = "me", v.L.T("nav.me"), p
	c.render(w, v, status, "layout", "self")
	return nil
}

func (c *Console) selfProfile(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	name := f.Get("display_name")
	if _, err := c.dir.UpdateAccount(r.Context(), selfID(v), directory.AccountUpdate{DisplayName: &name}); err != nil {
		if f.refuse(err, "display_name") {
			return c.showSelf(w, r, v, selfPage{Profile: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/me", "flash.self_saved", "")
}

func (c *Console) selfForwarding(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	fwd := splitAddresses(f.Get("forward_to"))
	keep := f.Checked("forward_keep")
	if _, err := c.dir.UpdateAccount(r.Context(), selfID(v), directory.AccountUpdate{ForwardTo: &fwd, ForwardKeep: &keep}); err != nil {
		if f.refuse(err, "forward_to") {
			return c.showSelf(w, r, v, selfPage{Forward: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/me", "flash.self_saved", "")
}

func (c *Console) selfAutoReply(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	on := f.Checked("auto_reply")
	subj, body := f.Get("auto_reply_subject"), strings.ReplaceAll(f.Get("auto_reply_body"), "\r\n", "\n")
	if on && strings.TrimSpace(body) == "" {
		f.fieldErr("auto_reply_body", "account.auto_reply_needs_text")
		return c.showSelf(w, r, v, selfPage{Reply: f}, http.StatusUnprocessableEntity)
	}
	u := directory.AccountUpdate{AutoReply: &on, AutoSubject: &subj, AutoBody: &body}
	if _, err := c.dir.UpdateAccount(r.Context(), selfID(v), u); err != nil {
		if f.refuse(err, "auto_reply_subject", "auto_reply_body") {
			return c.showSelf(w, r, v, selfPage{Reply: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/me", "flash.self_saved", "")
}

// selfPassword changes the user's password: typed twice, checked here to match, and then
// subject to the directory's policy. The password is never sent back in the page.
func (c *Console) selfPassword(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	pw, again := f.Get("password"), f.Get("password2")
	f.Values.Del("password")
	f.Values.Del("password2")
	switch {
	case pw == "":
		f.fieldErr("password", "form.required")
	case pw != again:
		f.fieldErr("password2", "self.password.mismatch")
	}
	if f.Invalid() {
		return c.showSelf(w, r, v, selfPage{Password: f}, http.StatusUnprocessableEntity)
	}
	if err := c.dir.SetPassword(r.Context(), selfID(v), pw); err != nil {
		if f.refuse(err, "password") {
			return c.showSelf(w, r, v, selfPage{Password: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/me", "flash.self_password", "")
}

// appPasswordsPage lists the user's app passwords (never their secrets) with the form that
// creates one.
type appPasswordsPage struct {
	Apps []directory.AppPassword
	Form *form
}

func (c *Console) appPasswords(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showAppPasswords(w, r, v, newForm(v.L, nil), http.StatusOK)
}

func (c *Console) showAppPasswords(w http.ResponseWriter, r *http.Request, v *view, f *form, status int) error {
	apps, err := c.dir.ListAppPasswords(r.Context(), selfID(v))
	if err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "app-passwords", v.L.T("nav.app_passwords"), appPasswordsPage{Apps: apps, Form: f}
	c.render(w, v, status, "layout", "app_passwords")
	return nil
}

// appPasswordCreated is the one page that shows a new app password, with the settings to
// enter next to it.
type appPasswordCreated struct {
	App    *directory.AppPassword
	Secret string
}

func (c *Console) appPasswordCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	secret, ap, err := c.dir.CreateAppPassword(r.Context(), selfID(v), f.Get("name"), func() string { return auth.GeneratePassword(20) })
	if err != nil {
		if f.refuse(err, "name") {
			return c.showAppPasswords(w, r, v, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	// Shown now and never again: the page is not cached (render sets no-store), and it is the
	// answer to the POST, so no URL leads back to it.
	v.Nav, v.Title, v.Data = "app-passwords", v.L.T("apppw.done.title", ap.Name), appPasswordCreated{App: ap, Secret: secret}
	c.render(w, v, http.StatusOK, "layout", "app_password")
	return nil
}

// findAppPassword returns the user's app password of the URL.
func (c *Console) findAppPassword(r *http.Request, v *view) (*directory.AppPassword, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, directory.ErrNotFound
	}
	apps, err := c.dir.ListAppPasswords(r.Context(), selfID(v))
	if err != nil {
		return nil, err
	}
	for i := range apps {
		if apps[i].ID == id {
			return &apps[i], nil
		}
	}
	return nil, directory.ErrNotFound
}

func appPasswordURL(ap *directory.AppPassword) string {
	return "/me/app-passwords/" + strconv.FormatInt(ap.ID, 10)
}

func (c *Console) appPasswordRevokeConfirm(w http.ResponseWriter, r *http.Request, v *view) error {
	ap, err := c.findAppPassword(r, v)
	if err != nil {
		return err
	}
	v.Nav = "app-passwords"
	return c.confirm(w, v, confirmPage{
		Heading: v.L.T("apppw.revoke.title", ap.Name),
		Text:    v.L.T("apppw.revoke.text", ap.Name),
		Action:  appPasswordURL(ap) + "/revoke",
		Button:  v.L.T("apppw.revoke.button"),
		Back:    "/me/app-passwords",
	}, http.StatusOK)
}

func (c *Console) appPasswordRevoke(w http.ResponseWriter, r *http.Request, v *view) error {
	ap, err := c.findAppPassword(r, v)
	if err != nil {
		return err
	}
	if err := c.dir.RevokeAppPassword(r.Context(), selfID(v), ap.ID); err != nil {
		return err
	}
	return redirect(w, r, "/me/app-passwords", "flash.app_password_revoked", ap.Name)
}

// selfImport imports an uploaded .vcf into the user's default address book or an .ics into
// the default calendar, and shows how many objects were imported, updated and skipped with the
// error of each one that was not.
func (c *Console) selfImport(w http.ResponseWriter, r *http.Request, v *view) error {
	if c.opts.PIM == nil {
		return directory.ErrNotFound
	}
	f := postForm(r, v.L)
	f.Values.Del("file")
	file, hdr, err := r.FormFile("file")
	if err != nil {
		f.fieldErr("file", "pim.no_file")
		return c.showSelf(w, r, v, selfPage{Import: f}, http.StatusUnprocessableEntity)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, pim.MaxImportBytes+1))
	if err != nil {
		return err
	}
	if len(data) > pim.MaxImportBytes {
		f.fieldErr("file", "pim.too_large", pim.MaxImportBytes>>20)
		return c.showSelf(w, r, v, selfPage{Import: f}, http.StatusUnprocessableEntity)
	}
	src := pim.Source{Name: hdr.Filename, Data: data}
	var res *pim.Result
	switch fileKind(hdr.Filename, data) {
	case "vcard":
		res, err = c.opts.PIM.ImportContacts(r.Context(), selfID(v), "", src)
	case "icalendar":
		res, err = c.opts.PIM.ImportCalendar(r.Context(), selfID(v), "", src)
	default:
		f.fieldErr("file", "pim.unknown_file")
		return c.showSelf(w, r, v, selfPage{Import: f}, http.StatusUnprocessableEntity)
	}
	if res == nil {
		if f.refuse(err, "file") {
			return c.showSelf(w, r, v, selfPage{Import: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	status := http.StatusOK
	if res.Failed() != nil {
		status = http.StatusUnprocessableEntity
	}
	return c.showSelf(w, r, v, selfPage{Import: f, ImportResult: res}, status)
}

// fileKind tells a vCard file from an iCalendar one by its first line, else by its name.
func fileKind(name string, data []byte) string {
	head := bytes.ToUpper(bytes.TrimSpace(data[:min(len(data), 64)]))
	name = strings.ToLower(name)
	switch {
	case bytes.HasPrefix(head, []byte("BEGIN:VCARD")):
		return "vcard"
	case bytes.HasPrefix(head, []byte("BEGIN:VCALENDAR")):
		return "icalendar"
	case strings.HasSuffix(name, ".vcf") || strings.HasSuffix(name, ".vcard"):
		return "vcard"
	case strings.HasSuffix(name, ".ics") || strings.HasSuffix(name, ".ical"):
		return "icalendar"
	}
	return ""
}

// contactsPage is the user's contacts (or those matching a search) and the events and tasks
// of the coming weeks.
type contactsPage struct {
	Query    string
	Contacts []pim.Contact
	Objects  []pim.CalendarObject
	Days     int
}

// upcomingDays is how far ahead the contacts page lists events.
const upcomingDays = 60

func (c *Console) selfContacts(w http.ResponseWriter, r *http.Request, v *view) error {
	if c.opts.PIM == nil {
		return directory.ErrNotFound
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	cs, err := c.opts.PIM.Contacts(r.Context(), selfID(v), pim.ContactFilter{Text: q})
	if err != nil {
		return err
	}
	now := c.opts.Now().UTC()
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, upcomingDays)
	objs, err := c.opts.PIM.CalendarObjects(r.Context(), selfID(v), pim.ObjectFilter{From: from, To: to})
	if err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "contacts", v.L.T("pim.title"), contactsPage{Query: q, Contacts: cs, Objects: objs, Days: upcomingDays}
	return c.page(w, v, "contacts")
}
