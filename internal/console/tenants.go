package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/directory"
)

// usageLine is one class of service of a tenant's contract, for the dashboard.
type usageLine struct {
	directory.COSUsage
	Full bool // no room for another account
}

// tenantDash is a tenant's dashboard: usage against the contract, storage, recent changes.
type tenantDash struct {
	Tenant      *directory.Tenant
	Usage       []usageLine
	Accounts    int
	Domains     []*directory.Domain
	Lists       int
	Aliases     int
	Used, Quota int64
	Audit       []directory.AuditEntry
	AuditHidden bool
	// Sending is the mail submitted by the busiest senders today and over 7 days.
	Sending []directory.SendingStat
	// For the provider: the catalogue for the cap form, and the forms of the tenant page.
	COS      []*directory.COS
	Edit     *form
	Cap      *form
	CapError string
}

// loadTenantDash gathers a tenant's dashboard from directory calls made as the actor.
func (c *Console) loadTenantDash(ctx context.Context, tenant string) (*tenantDash, error) {
	t, err := c.dir.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	id := strconv.FormatInt(t.ID, 10)
	d := &tenantDash{Tenant: t}
	usage, err := c.dir.Usage(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, u := range usage {
		d.Usage = append(d.Usage, usageLine{COSUsage: u, Full: u.Cap >= 0 && u.InUse >= u.Cap})
	}
	if _, d.Accounts, err = c.dir.ListAccounts(ctx, directory.AccountFilter{Tenant: id, Limit: 1}); err != nil {
		return nil, err
	}
	st, err := c.dir.Storage(ctx, id)
	if err != nil {
		return nil, err
	}
	d.Used, d.Quota = st.UsedBytes, st.QuotaBytes
	if d.Domains, err = c.dir.ListDomains(ctx, id); err != nil {
		return nil, err
	}
	for _, dom := range d.Domains {
		als, err := c.dir.ListAliases(ctx, "", dom.Name)
		if err != nil {
			return nil, err
		}
		ls, err := c.dir.ListLists(ctx, dom.Name)
		if err != nil {
			return nil, err
		}
		d.Aliases += len(als)
		d.Lists += len(ls)
	}
	if d.Sending, err = c.dir.SendingStats(ctx, id, 7); err != nil {
		return nil, err
	}
	if len(d.Sending) > 10 {
		d.Sending = d.Sending[:10]
	}
	d.Audit, err = c.dir.ListAudit(ctx, id, 15)
	if errors.Is(err, directory.ErrForbidden) {
		d.AuditHidden, err = true, nil
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// providerDash is the provider's overview of every tenant.
type providerDash struct {
	Tenants     []tenantLine
	TenantNames map[int64]string
	Audit       []directory.AuditEntry
	Totals      struct{ Tenants, Accounts, Suspended int }
}

type tenantLine struct {
	*directory.Tenant
	Accounts int
	Domains  int
	Full     int // classes of service at their cap
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, v *view) error {
	if v.IsUser() {
		// A mailbox user's home is its own account.
		http.Redirect(w, r, "/me", http.StatusSeeOther)
		return nil
	}
	ctx := r.Context()
	v.Nav = "dashboard"
	v.Title = v.L.T("nav.dashboard")
	if v.IsProvider() {
		d := providerDash{TenantNames: map[int64]string{}}
		ts, err := c.dir.ListTenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			id := strconv.FormatInt(t.ID, 10)
			_, n, err := c.dir.ListAccounts(ctx, directory.AccountFilter{Tenant: id, Limit: 1})
			if err != nil {
				return err
			}
			doms, err := c.dir.ListDomains(ctx, id)
			if err != nil {
				return err
			}
			usage, err := c.dir.Usage(ctx, id)
			if err != nil {
				return err
			}
			d.TenantNames[t.ID] = t.Name
			line := tenantLine{Tenant: t, Accounts: n, Domains: len(doms)}
			for _, u := range usage {
				if u.Cap >= 0 && u.InUse >= u.Cap {
					line.Full++
				}
			}
			d.Tenants = append(d.Tenants, line)
			d.Totals.Accounts += n
			if t.Status != "active" {
				d.Totals.Suspended++
			}
		}
		d.Totals.Tenants = len(ts)
		if d.Audit, err = c.dir.ListAudit(ctx, "", 15); err != nil {
			return err
		}
		v.Data = d
		return c.page(w, v, "provider")
	}
	ts, err := c.dir.ListTenants(ctx)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		return directory.ErrNotFound
	}
	d, err := c.loadTenantDash(ctx, strconv.FormatInt(ts[0].ID, 10))
	if err != nil {
		return err
	}
	v.Data = d
	return c.page(w, v, "tenant")
}

// tenantsPage lists tenants with the form that creates one.
type tenantsPage struct {
	Tenants []*directory.Tenant
	Form    *form
}

func (c *Console) tenants(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showTenants(w, r, v, newForm(v.L, url.Values{"contract": {directory.ContractSubscription}}), false)
}

func (c *Console) showTenants(w http.ResponseWriter, r *http.Request, v *view, f *form, failed bool) error {
	ts, err := c.dir.ListTenants(r.Context())
	if err != nil {
		return err
	}
	v.Nav, v.Title = "tenants", v.L.T("nav.tenants")
	v.Data = tenantsPage{Tenants: ts, Form: f}
	if failed {
		return c.invalid(w, v, "tenants")
	}
	return c.page(w, v, "tenants")
}

func (c *Console) tenantCreate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	mms, ok := f.intValue("max_message_size")
	if !ok {
		return c.showTenants(w, r, v, f, true)
	}
	t, err := c.dir.CreateTenant(r.Context(), directory.TenantSpec{Name: f.Get("name"), ContactEmail: strings.TrimSpace(f.Get("contact_email")),
		Contract: f.Get("contract"), MaxMessageSize: mms * directory.MB})
	if err != nil {
		if f.refuse(err, "name", "contact_email", "contract", "max_message_size") {
			return c.showTenants(w, r, v, f, true)
		}
		return err
	}
	return redirect(w, r, "/tenants/"+strconv.FormatInt(t.ID, 10), "flash.tenant_created", t.Name)
}

func (c *Console) tenantPage(w http.ResponseWriter, r *http.Request, v *view) error {
	return c.showTenant(w, r, v, nil, nil, http.StatusOK)
}

// showTenant renders a tenant's page: its dashboard and, for the provider, its settings and
// contract caps.
func (c *Console) showTenant(w http.ResponseWriter, r *http.Request, v *view, edit, capf *form, status int) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return directory.ErrNotFound
	}
	d, err := c.loadTenantDash(ctx, id)
	if err != nil {
		return err
	}
	if d.COS, err = c.dir.ListCOS(ctx); err != nil {
		return err
	}
	t := d.Tenant
	if edit == nil {
		edit = newForm(v.L, url.Values{"name": {t.Name}, "contact_email": {t.ContactEmail}, "contract": {t.Contract}})
		if t.MaxMessageSize > 0 {
			edit.Set("max_message_size", strconv.FormatInt(t.MaxMessageSize/directory.MB, 10))
		}
		if t.RejectDMARC {
			edit.Set("reject_dmarc", "on")
		}
	}
	if capf == nil {
		capf = newForm(v.L, nil)
	}
	d.Edit, d.Cap = edit, capf
	v.Nav, v.Title, v.Data = "tenants", t.Name, d
	if !v.IsProvider() {
		v.Nav = "dashboard"
	}
	c.render(w, v, status, "layout", "tenant")
	return nil
}

func (c *Console) tenantUpdate(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	id := r.PathValue("id")
	mms, ok := f.intValue("max_message_size")
	if !ok {
		return c.showTenant(w, r, v, f, nil, http.StatusUnprocessableEntity)
	}
	mms *= directory.MB
	name, contact, contract := f.Get("name"), strings.TrimSpace(f.Get("contact_email")), f.Get("contract")
	rejectDMARC := f.Checked("reject_dmarc")
	t, err := c.dir.UpdateTenant(r.Context(), id, directory.TenantUpdate{Name: &name, ContactEmail: &contact, Contract: &contract, MaxMessageSize: &mms,
		RejectDMARC: &rejectDMARC})
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) && f.refuse(err, "name", "contact_email", "contract", "max_message_size") {
			return c.showTenant(w, r, v, f, nil, http.StatusUnprocessableEntity)
		}
		return err
	}
	return redirect(w, r, "/tenants/"+strconv.FormatInt(t.ID, 10), "flash.tenant_saved", t.Name)
}

func (c *Console) tenantStatus(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	status := f.Get("status")
	t, err := c.dir.UpdateTenant(r.Context(), r.PathValue("id"), directory.TenantUpdate{Status: &status})
	if err != nil {
		return err
	}
	key := "flash.tenant_resumed"
	if t.Status == "suspended" {
		key = "flash.tenant_suspended"
	}
	return redirect(w, r, "/tenants/"+strconv.FormatInt(t.ID, 10), key, t.Name)
}

func (c *Console) tenantCap(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	id := r.PathValue("id")
	max := -1
	if f.Get("remove") == "" {
		n, ok := f.intValue("max_accounts")
		if !ok {
			return c.showTenant(w, r, v, nil, f, http.StatusUnprocessableEntity)
		}
		if strings.TrimSpace(f.Get("max_accounts")) == "" || n < 0 {
			f.fieldErr("max_accounts", "form.not_a_number")
			return c.showTenant(w, r, v, nil, f, http.StatusUnprocessableEntity)
		}
		max = int(n)
	}
	if err := c.dir.SetContractCap(r.Context(), id, f.Get("cos"), max); err != nil {
		if !errors.Is(err, directory.ErrNotFound) && f.refuse(err, "cos", "max_accounts") {
			return c.showTenant(w, r, v, nil, f, http.StatusUnprocessableEntity)
		}
		return err
	}
	name := f.Get("cos")
	if cos, err := c.dir.GetCOS(r.Context(), name); err == nil {
		name = cos.Name
	}
	key := "flash.cap_saved"
	if max < 0 {
		key = "flash.cap_removed"
	}
	return redirect(w, r, "/tenants/"+id, key, name)
}
