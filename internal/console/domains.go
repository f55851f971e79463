package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/postamail/posta/internal/directory"
)

// domainsPage lists domains with the form that adds one.
type domainsPage struct {
	Domains []*directory.Domain
	Tenants []*directory.Tenant
	Form    *form
}

func (c *Console) domains(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showDomains(w, r, v, newForm(v.L, nil), false)
}

func (c *Console) showDomains(w http.ResponseWriter, r *http.Request, v *view, f *form, failed bool) error {
	ctx := r.Context()
	p := domainsPage{Form: f}
	var err error
	if p.Domains, err = c.dir.ListDomains(ctx, ""); err != nil {
		return err
	}
	if p.Tenants, err = c.dir.ListTenants(ctx); err != nil {
		return err
	}
	v.Nav, v.Title, v.Data = "domains", v.L.T("nav.domains"), p
	if failed {
		return c.invalid(w, v, "domains")
	}
	return c.page(w, v, "domains")
}

func (c *Console) domainAdd(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	tenant := f.Get("tenant")
	if tenant == "" {
		f.fieldErr("tenant", "form.required")
		return c.showDomains(w, r, v, f, true)
	}
	d, err := c.dir.AddDomain(r.Context(), tenant, f.Get("name"), directory.DomainOptions{AliasOf: f.Get("alias_of"), CatchAll: f.Get("catch_all")})
	if err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			f.fieldErr("tenant", "domain.no_tenant")
			return c.showDomains(w, r, v, f, true)
		}
		if f.refuse(err, "domain=name", "name", "alias_of", "address=catch_all") {
			return c.showDomains(w, r, v, f, true)
		}
		return err
	}
	return redirect(w, r, "/domains/"+url.PathEscape(d.Name), "flash.domain_added", d.Name)
}

// recordLine is a DNS record with whether it is live.
type recordLine struct {
	Record
	State string
}

// domainPage shows a domain, the records to publish and the client settings.
type domainPage struct {
	Domain   *directory.Domain
	Records  []recordLine
	Zone     string
	Accounts int
	Aliases  int
	Lists    int
}

func (c *Console) domainPage(w http.ResponseWriter, r *http.Request, v *view) error {
	ctx := r.Context()
	d, err := c.dir.GetDomain(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	p := domainPage{Domain: d}
	recs, err := DomainRecords(ctx, c.opts.DKIM, d.Name, c.opts.Hostname)
	if err != nil {
		return err
	}
	states := CheckRecords(ctx, c.opts.Resolver, recs, c.opts.LookupTimeout)
	for i, rec := range recs {
		p.Records = append(p.Records, recordLine{Record: rec, State: states[i]})
		if z := rec.ZoneLine(); z != "" {
			p.Zone += z + "\n"
		}
	}
	id := strconv.FormatInt(d.ID, 10)
	if _, p.Accounts, err = c.dir.ListAccounts(ctx, directory.AccountFilter{Domain: id, Limit: 1}); err != nil {
		return err
	}
	als, err := c.dir.ListAliases(ctx, "", id)
	if err != nil {
		return err
	}
	ls, err := c.dir.ListLists(ctx, id)
	if err != nil {
		return err
	}
	p.Aliases, p.Lists = len(als), len(ls)
	v.Nav, v.Title, v.Data = "domains", d.Name, p
	return c.page(w, v, "domain")
}

func (c *Console) domainDeleteConfirm(w http.ResponseWriter, r *http.Request, v *view) error {
	d, err := c.dir.GetDomain(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return c.confirmDomainDelete(w, v, d, nil, http.StatusOK)
}

func (c *Console) confirmDomainDelete(w http.ResponseWriter, v *view, d *directory.Domain, f *form, status int) error {
	v.Nav = "domains"
	u := "/domains/" + url.PathEscape(d.Name)
	return c.confirm(w, v, confirmPage{
		Heading: v.L.T("domain.delete.title", d.Name),
		Text:    v.L.T("domain.delete.text", d.Name),
		Action:  u + "/delete",
		Button:  v.L.T("domain.delete.button"),
		Back:    u,
		Expect:  d.Name,
		Form:    f,
	}, status)
}

func (c *Console) domainDelete(w http.ResponseWriter, r *http.Request, v *view) error {
	d, err := c.dir.GetDomain(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	f := postForm(r, v.L)
	if f.Get("confirm") != d.Name {
		f.fieldErr("confirm", "confirm.mismatch", d.Name)
		return c.confirmDomainDelete(w, v, d, f, http.StatusUnprocessableEntity)
	}
	if err := c.dir.RemoveDomain(r.Context(), d.Name); err != nil {
		if f.refuse(err) {
			return c.confirmDomainDelete(w, v, d, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/domains", "flash.domain_removed", d.Name)
}
