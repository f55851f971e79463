package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/directory"
)

// pageSize is the number of accounts on one page of the list.
const pageSize = 25

// accountsPage is the account list with its filters.
type accountsPage struct {
	Filter      *form
	Accounts    []*directory.Account
	Total       int
	From, To    int
	Prev, Next  string
	Tenants     []*directory.Tenant
	Domains     []*directory.Domain
	COS         []*directory.COS
	FilterError string
}

func (c *Console) accounts(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx := r.Context()
	q := r.URL.Query()
	f := newForm(v.L, url.Values{})
	for _, k := range []string{"tenant", "domain", "cos", "status", "q"} {
		if s := strings.TrimSpace(q.Get(k)); s != "" {
			f.Set(k, s)
		}
	}
	pg, _ := strconv.Atoi(q.Get("page"))
	pg = max(pg, 1)
	p := accountsPage{Filter: f}
	var err error
	if v.IsProvider() {
		if p.Tenants, err = c.dir.ListTenants(ctx); err != nil {
			return err
		}
	}
	if p.Domains, err = c.dir.ListDomains(ctx, f.Get("tenant")); err != nil {
		if !f.refuse(err) {
			return err
		}
		p.FilterError = f.General
		if p.Domains, err = c.dir.ListDomains(ctx, ""); err != nil {
			return err
		}
	}
	if p.COS, err = c.dir.ListCOS(ctx); err != nil {
		return err
	}
	accs, total, err := c.dir.ListAccounts(ctx, directory.AccountFilter{Tenant: f.Get("tenant"), Domain: f.Get("domain"), COS: f.Get("cos"),
		Status: f.Get("status"), Text: f.Get("q"), Limit: pageSize, Offset: (pg - 1) * pageSize})
	if err != nil {
		// A filter naming something the actor cannot see is shown, not a failure.
		if !f.refuse(err) {
			return err
		}
		p.FilterError = f.General
	}
	p.Accounts, p.Total = accs, total
	if total > 0 {
		p.From, p.To = (pg-1)*pageSize+1, min(pg*pageSize, total)
	}
	link := func(page int) string {
		vals := url.Values{}
		for k, vs := range f.Values {
			vals[k] = vs
		}
		vals.Set("page", strconv.Itoa(page))
		return "/accounts?" + vals.Encode()
	}
	if pg > 1 {
		p.Prev = link(pg - 1)
	}
	if pg*pageSize < total {
		p.Next = link(pg + 1)
	}
	v.Nav, v.Title, v.Data = "accounts", v.L.T("nav.accounts"), p
	return c.page(w, v, "accounts")
}

// newAccountPage is the form that creates an account.
type newAccountPage struct {
	Form    *form
	Domains []*directory.Domain
	COS     []*directory.COS
}

func (c *Console) accountNew(w http.ResponseWriter, r *http.Request, v *view) error {
	f := newForm(v.L, url.Values{"password": {auth.GeneratePassword(16)}, "status": {directory.StatusActive}})
	if d := r.URL.Query().Get("domain"); d != "" {
		f.Set("domain", d)
	}
	return c.showNewAccount(w, r, v, f, false)
}

func (c *Console) showNewAccount(w http.ResponseWriter, r *http.Request, v *view, f *form, failed bool) error {
	ctx := r.Context()
	doms, err := c.dir.ListDomains(ctx, "")
	if err != nil {
		return err
	}
	cos, err := c.dir.ListCOS(ctx)
	if err != nil {
		return err
	}
	v.Nav, v.Title = "accounts", v.L.T("account.new")
	v.Data = newAccountPage{Form: f, Domains: doms, COS: cos}
	if failed {
		return c.invalid(w, v, "account_new")
	}
	return c.page(w, v, "account_new")
}

func (c *Console) accountCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	a, err := c.dir.CreateAccount(r.Context(), directory.AccountSpec{Address: f.address("local", "domain"), Password: f.Get("password"),
		DisplayName: f.Get("display_name"), COS: f.Get("cos"), Status: f.Get("status")})
	if err != nil {
		if f.refuse(err, "address=local", "password", "display_name", "cos", "status") {
			return c.showNewAccount(w, r, v, f, true)
		}
		return err
	}
	return redirect(w, r, accountURL(a), "flash.account_created", a.Address)
}

func accountURL(a *directory.Account) string { return "/accounts/" + strconv.FormatInt(a.ID, 10) }

// accountPage is one account with the forms that change it.
type accountPage struct {
	Account  *directory.Account
	Aliases  []directory.Alias
	Domains  []*directory.Domain
	COS      []*directory.COS
	Edit     *form
	COSForm  *form
	Password *form
	Alias    *form
}

// loadAccount finds the account of the URL as the actor sees it.
func (c *Console) loadAccount(r *http.Request) (*directory.Account, error) {
	return c.dir.GetAccount(r.Context(), r.PathValue("id"))
}

func (c *Console) accountPage(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	return c.showAccount(w, r, v, a, accountPage{}, http.StatusOK)
}

// showAccount renders an account's page; forms given in p (a refused one) replace the fresh ones.
func (c *Console) showAccount(w http.ResponseWriter, r *http.Request, v *view, a *directory.Account, p accountPage, status int) error {
	ctx := r.Context()
	var err error
	p.Account = a
	if p.Aliases, err = c.dir.ListAliases(ctx, strconv.FormatInt(a.ID, 10), ""); err != nil {
		return err
	}
	if p.Domains, err = c.dir.ListDomains(ctx, strconv.FormatInt(a.TenantID, 10)); err != nil {
		return err
	}
	if p.COS, err = c.dir.ListCOS(ctx); err != nil {
		return err
	}
	if p.Edit == nil {
		p.Edit = newForm(v.L, url.Values{"display_name": {a.DisplayName}, "status": {a.Status}, "forward_to": {strings.Join(a.ForwardTo, "\n")},
			"auto_reply_subject": {a.AutoSubject}, "auto_reply_body": {a.AutoBody}})
		if a.ForwardKeep {
			p.Edit.Set("forward_keep", "on")
		}
		if a.AutoReply {
			p.Edit.Set("auto_reply", "on")
		}
	}
	if p.COSForm == nil {
		p.COSForm = newForm(v.L, url.Values{"cos": {strconv.FormatInt(a.COSID, 10)}})
	}
	if p.Password == nil {
		p.Password = newForm(v.L, url.Values{"password": {auth.GeneratePassword(16)}})
	}
	if p.Alias == nil {
		_, dom, _ := strings.Cut(a.Address, "@")
		p.Alias = newForm(v.L, url.Values{"domain": {dom}})
	}
	v.Nav, v.Title, v.Data = "accounts", a.Address, p
	c.render(w, v, status, "layout", "account")
	return nil
}

func (c *Console) accountUpdate(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	name, status := f.Get("display_name"), f.Get("status")
	fwd := splitAddresses(f.Get("forward_to"))
	keep, reply := f.Checked("forward_keep"), f.Checked("auto_reply")
	subj, body := f.Get("auto_reply_subject"), strings.ReplaceAll(f.Get("auto_reply_body"), "\r\n", "\n")
	u := directory.AccountUpdate{DisplayName: &name, Status: &status, ForwardTo: &fwd, ForwardKeep: &keep, AutoReply: &reply, AutoSubject: &subj, AutoBody: &body}
	if reply && strings.TrimSpace(body) == "" {
		f.fieldErr("auto_reply_body", "account.auto_reply_needs_text")
		return c.showAccount(w, r, v, a, accountPage{Edit: f}, http.StatusUnprocessableEntity)
	}
	if _, err := c.dir.UpdateAccount(r.Context(), r.PathValue("id"), u); err != nil {
		if f.refuse(err, "display_name", "status", "forward_to", "auto_reply_subject", "auto_reply_body") {
			return c.showAccount(w, r, v, a, accountPage{Edit: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, accountURL(a), "flash.account_saved", a.Address)
}

// cosPreview is what changing an account's class of service would do, before confirming.
type cosPreview struct {
	Account *directory.Account
	From    *directory.COS
	To      *directory.COS
	Change  *directory.COSChange
	Form    *form
}

func (c *Console) accountCOSPreview(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	f := newForm(v.L, url.Values{"cos": {r.URL.Query().Get("cos")}})
	return c.showCOSPreview(w, r, v, a, f, http.StatusOK)
}

func (c *Console) showCOSPreview(w http.ResponseWriter, r *http.Request, v *view, a *directory.Account, f *form, status int) error {
	ctx := r.Context()
	ch, err := c.dir.PreviewCOSChange(ctx, strconv.FormatInt(a.ID, 10), f.Get("cos"))
	if err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return err
		}
		cf := newForm(v.L, f.Values)
		if cf.refuse(err, "cos") {
			return c.showAccount(w, r, v, a, accountPage{COSForm: cf}, http.StatusUnprocessableEntity)
		}
		return err
	}
	p := cosPreview{Account: a, Change: ch, Form: f}
	if p.From, err = c.dir.GetCOS(ctx, strconv.FormatInt(a.COSID, 10)); err != nil {
		return err
	}
	if p.To, err = c.dir.GetCOS(ctx, f.Get("cos")); err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "accounts", v.L.T("cos.change.title", a.Address), p
	c.render(w, v, status, "layout", "account_cos")
	return nil
}

func (c *Console) accountCOSChange(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	cos := f.Get("cos")
	updated, err := c.dir.UpdateAccount(r.Context(), strconv.FormatInt(a.ID, 10), directory.AccountUpdate{COS: &cos})
	if err != nil {
		if f.refuse(err, "cos") {
			return c.showCOSPreview(w, r, v, a, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, accountURL(a), "flash.cos_changed", updated.COS)
}

func (c *Console) accountPassword(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	if err := c.dir.SetPassword(r.Context(), strconv.FormatInt(a.ID, 10), f.Get("password")); err != nil {
		if f.refuse(err, "password") {
			return c.showAccount(w, r, v, a, accountPage{Password: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, accountURL(a), "flash.password_set", a.Address)
}

func (c *Console) accountAliasAdd(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	al, err := c.dir.AddAlias(r.Context(), f.address("local", "domain"), strconv.FormatInt(a.ID, 10))
	if err != nil {
		if f.refuse(err, "address=local") {
			return c.showAccount(w, r, v, a, accountPage{Alias: f}, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, accountURL(a), "flash.alias_added", al.Address)
}

// confirmPage asks before something that cannot be undone.
type confirmPage struct {
	Heading string
	Text    string
	Action  string
	Button  string
	Back    string
	Hidden  map[string]string
	// Expect, when set, must be typed into the confirm input.
	Expect string
	Form   *form
}

func (c *Console) confirm(w http.ResponseWriter, v *view, p confirmPage, status int) error {
	if p.Form == nil {
		p.Form = newForm(v.L, nil)
	}
	v.Title, v.Data = p.Heading, p
	c.render(w, v, status, "layout", "confirm")
	return nil
}

func (c *Console) accountDeleteConfirm(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	return c.confirmAccountDelete(w, v, a, nil, http.StatusOK)
}

func (c *Console) confirmAccountDelete(w http.ResponseWriter, v *view, a *directory.Account, f *form, status int) error {
	v.Nav = "accounts"
	return c.confirm(w, v, confirmPage{
		Heading: v.L.T("account.delete.title", a.Address),
		Text:    v.L.T("account.delete.text", a.Address, v.L.Bytes(a.UsedBytes)),
		Action:  accountURL(a) + "/delete",
		Button:  v.L.T("account.delete.button"),
		Back:    accountURL(a),
		Expect:  a.Address,
		Form:    f,
	}, status)
}

func (c *Console) accountDelete(w http.ResponseWriter, r *http.Request, v *view) error {
	a, err := c.loadAccount(r)
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	if !strings.EqualFold(strings.TrimSpace(f.Get("confirm")), a.Address) {
		f.fieldErr("confirm", "confirm.mismatch", a.Address)
		return c.confirmAccountDelete(w, v, a, f, http.StatusUnprocessableEntity)
	}
	if err := c.dir.RemoveAccount(r.Context(), strconv.FormatInt(a.ID, 10)); err != nil {
		if !errors.Is(err, directory.ErrNotFound) && f.refuse(err) {
			return c.confirmAccountDelete(w, v, a, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/accounts", "flash.account_deleted", a.Address)
}
