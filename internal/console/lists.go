package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/postamail/posta/internal/directory"
)

// aliasesPage lists aliases with the form that adds one.
type aliasesPage struct {
	Aliases     []directory.Alias
	Domains     []*directory.Domain
	Domain      string
	Form        *form
	FilterError string
}

func (c *Console) aliases(w http.ResponseWriter, r *http.Request, v *view) error {
	f := newForm(v.L, nil)
	if d := r.URL.Query().Get("domain"); d != "" {
		f.Set("domain", d)
	}
	return c.showAliases(w, r, v, f, false)
}

func (c *Console) showAliases(w http.ResponseWriter, r *http.Request, v *view, f *form, failed bool) error {
	ctx := r.Context()
	p := aliasesPage{Form: f, Domain: r.URL.Query().Get("domain")}
	var err error
	if p.Domains, err = c.dir.ListDomains(ctx, ""); err != nil {
		return err
	}
	if p.Aliases, err = c.dir.ListAliases(ctx, "", p.Domain); err != nil {
		ff := newForm(v.L, nil)
		if !ff.refuse(err) {
			return err
		}
		p.FilterError = ff.General
	}
	v.Nav, v.Title, v.Data = "aliases", v.L.T("nav.aliases"), p
	if failed {
		return c.invalid(w, v, "aliases")
	}
	return c.page(w, v, "aliases")
}

func (c *Console) aliasCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	account := strings.TrimSpace(f.Get("account"))
	if account == "" {
		f.fieldErr("account", "form.required")
		return c.showAliases(w, r, v, f, true)
	}
	al, err := c.dir.AddAlias(r.Context(), f.address("local", "domain"), account)
	if err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			f.fieldErr("account", "alias.no_account", account)
			return c.showAliases(w, r, v, f, true)
		}
		if f.refuse(err, "address=local") {
			return c.showAliases(w, r, v, f, true)
		}
		return err
	}
	return redirect(w, r, "/aliases", "flash.alias_added", al.Address)
}

func (c *Console) aliasRemove(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	addr := f.Get("address")
	back := localPath(f.Get("back"))
	if err := c.dir.RemoveAlias(r.Context(), addr); err != nil {
		return err
	}
	return redirect(w, r, back, "flash.alias_removed", strings.ToLower(strings.TrimSpace(addr)))
}

// listsPage lists distribution lists with the form that creates one.
type listsPage struct {
	Lists   []*directory.List
	Domains []*directory.Domain
	Form    *form
}

func (c *Console) lists(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showLists(w, r, v, newForm(v.L, url.Values{"post_policy": {directory.PostMembers}}), false)
}

func (c *Console) showLists(w http.ResponseWriter, r *http.Request, v *view, f *form, failed bool) error {
	ctx := r.Context()
	p := listsPage{Form: f}
	var err error
	if p.Lists, err = c.dir.ListLists(ctx, ""); err != nil {
		return err
	}
	if p.Domains, err = c.dir.ListDomains(ctx, ""); err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "lists", v.L.T("nav.lists"), p
	if failed {
		return c.invalid(w, v, "lists")
	}
	return c.page(w, v, "lists")
}

func listURL(address string) string { return "/lists/" + url.PathEscape(address) }

func (c *Console) listCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	l, err := c.dir.CreateList(r.Context(), directory.ListSpec{Address: f.address("local", "domain"), Name: f.Get("name"), PostPolicy: f.Get("post_policy")})
	if err != nil {
		if f.refuse(err, "address=local", "name", "post_policy") {
			return c.showLists(w, r, v, f, true)
		}
		return err
	}
	return redirect(w, r, listURL(l.Address), "flash.list_created", l.Address)
}

// listPage is one list with its members.
type listPage struct {
	List *directory.List
	Form *form
}

func (c *Console) listPage(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showList(w, r, v, newForm(v.L, nil), http.StatusOK)
}

func (c *Console) showList(w http.ResponseWriter, r *http.Request, v *view, f *form, status int) error {
	l, err := c.dir.GetList(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "lists", l.Address, listPage{List: l, Form: f}
	c.render(w, v, status, "layout", "list")
	return nil
}

func (c *Console) listMemberAdd(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	list := r.PathValue("address")
	l, err := c.dir.GetList(r.Context(), list)
	if err != nil {
		return err
	}
	member := strings.TrimSpace(f.Get("member"))
	if member == "" {
		f.fieldErr("member", "form.required")
		return c.showList(w, r, v, f, http.StatusUnprocessableEntity)
	}
	if err := c.dir.AddListMember(r.Context(), l.Address, member); err != nil {
		if f.refuse(err, "address=member", "member") {
			return c.showList(w, r, v, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, listURL(l.Address), "flash.member_added", strings.ToLower(member))
}

func (c *Console) listMemberRemove(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	l, err := c.dir.GetList(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	if err := c.dir.RemoveListMember(r.Context(), l.Address, f.Get("member")); err != nil {
		return err
	}
	return redirect(w, r, listURL(l.Address), "flash.member_removed", f.Get("member"))
}

func (c *Console) listDeleteConfirm(w http.ResponseWriter, r *http.Request, v *view) error {
	l, err := c.dir.GetList(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	v.Nav = "lists"
	return c.confirm(w, v, confirmPage{
		Heading: v.L.T("list.delete.title", l.Address),
		Text:    v.L.T("list.delete.text", l.Address, len(l.Members)),
		Action:  listURL(l.Address) + "/delete",
		Button:  v.L.T("list.delete.button"),
		Back:    listURL(l.Address),
	}, http.StatusOK)
}

func (c *Console) listDelete(w http.ResponseWriter, r *http.Request, v *view) error {
	l, err := c.dir.GetList(r.Context(), r.PathValue("address"))
	if err != nil {
		return err
	}
	if err := c.dir.RemoveList(r.Context(), l.Address); err != nil {
		return err
	}
	return redirect(w, r, "/lists", "flash.list_deleted", l.Address)
}
