package api

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/console"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/msglog"
	"github.com/postamail/posta/internal/queue"
	"github.com/postamail/posta/internal/webauth"
)

// Request bodies.
type (
	loginRequest struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TOTP     string `json:"totp,omitempty"`
	}
	sessionInfo struct {
		Admin    string         `json:"admin"`
		Role     directory.Role `json:"role"`
		TenantID int64          `json:"tenant_id,omitempty"`
		// TOTPEnrolmentRequired: two-factor login must be turned on before anything else.
		TOTPEnrolmentRequired bool            `json:"totp_enrolment_required,omitempty"`
		CSRF                  string          `json:"csrf,omitempty"`
		Expires               time.Time       `json:"expires,omitzero"`
		Actor                 directory.Actor `json:"-"`
	}
	tenantRequest struct {
		Name           string `json:"name"`
		ContactEmail   string `json:"contact_email"`
		Contract       string `json:"contract"`
		MaxMessageSize int64  `json:"max_message_size,omitempty"`
	}
	tenantPatch struct {
		Name           *string `json:"name,omitempty"`
		ContactEmail   *string `json:"contact_email,omitempty"`
		Contract       *string `json:"contract,omitempty"`
		Status         *string `json:"status,omitempty"`
		MaxMessageSize *int64  `json:"max_message_size,omitempty"`
		// RejectDMARC: refuse at SMTP time messages to the tenant failing DMARC p=reject.
		RejectDMARC *bool `json:"reject_dmarc,omitempty"`
	}
	capRequest struct {
		Max int `json:"max"`
	}
	domainRequest struct {
		Name     string `json:"name"`
		Tenant   string `json:"tenant"`
		AliasOf  string `json:"alias_of,omitempty"`
		CatchAll string `json:"catch_all,omitempty"`
	}
	domainInfo struct {
		*directory.Domain
		Records []dnsRecord `json:"dns_records"`
	}
	dnsRecord struct {
		console.Record
		// Live is, with ?check=1, whether the record is published: "live", "missing",
		// "different" or "unknown".
		Live string `json:"live,omitempty"`
	}
	cosRequest struct {
		Name                 string   `json:"name"`
		ServiceType          string   `json:"service_type,omitempty"`
		QuotaMB              int64    `json:"quota_mb"`
		Features             []string `json:"features,omitempty"`
		MaxMessageSize       int64    `json:"max_message_size,omitempty"`
		SendPerDay           int      `json:"send_per_day,omitempty"`
		RecipientsPerMessage int      `json:"recipients_per_message,omitempty"`
		MinPasswordLen       int      `json:"min_password_len,omitempty"`
		MaxMessages          int64    `json:"max_messages,omitempty"` // 0: no cap
	}
	accountRequest struct {
		Address     string `json:"address"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name,omitempty"`
		COS         string `json:"cos"`
		Status      string `json:"status,omitempty"`
	}
	accountPatch struct {
		DisplayName *string   `json:"display_name,omitempty"`
		COS         *string   `json:"cos,omitempty"`
		Status      *string   `json:"status,omitempty"`
		ForwardTo   *[]string `json:"forward_to,omitempty"`
		ForwardKeep *bool     `json:"forward_keep,omitempty"`
		AutoReply   *bool     `json:"auto_reply,omitempty"`
		AutoSubject *string   `json:"auto_reply_subject,omitempty"`
		AutoBody    *string   `json:"auto_reply_body,omitempty"`
	}
	accountPage struct {
		Items []*directory.Account `json:"items"`
		Total int                  `json:"total"`
	}
	passwordRequest struct {
		Password string `json:"password"`
	}
	aliasRequest struct {
		Address string `json:"address"`
		Account string `json:"account"`
	}
	listRequest struct {
		Address    string `json:"address"`
		Name       string `json:"name,omitempty"`
		PostPolicy string `json:"post_policy,omitempty"`
	}
	memberRequest struct {
		Member string `json:"member"`
	}
	adminRequest struct {
		Email    string         `json:"email"`
		Password string         `json:"password"`
		Role     directory.Role `json:"role"`
		Tenant   string         `json:"tenant,omitempty"`
		Domains  []string       `json:"domains,omitempty"`
	}
	tokenRequest struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	selfPatch struct {
		DisplayName *string   `json:"display_name,omitempty"`
		ForwardTo   *[]string `json:"forward_to,omitempty"`
		ForwardKeep *bool     `json:"forward_keep,omitempty"`
		AutoReply   *bool     `json:"auto_reply,omitempty"`
		AutoSubject *string   `json:"auto_reply_subject,omitempty"`
		AutoBody    *string   `json:"auto_reply_body,omitempty"`
	}
	appPasswordRequest struct {
		Name string `json:"name"`
	}
	appPasswordCreated struct {
		Password string `json:"password"` // shown once
		directory.AppPassword
	}
	reasonRequest struct {
		Reason string `json:"reason,omitempty"`
	}
	tokenCreated struct {
		Secret string `json:"token"` // shown once
		webauth.Token
	}
)

func (a *API) table() []route {
	var (
		tenant   = &directory.Tenant{}
		domain   = &domainInfo{Domain: &directory.Domain{}}
		cos      = &directory.COS{}
		account  = &directory.Account{}
		list     = &directory.List{}
		admin    = &directory.Admin{}
		sessionV = &sessionInfo{}
	)
	return append([]route{
		{method: "GET", path: "/openapi.json", summary: "This document", tag: "meta", public: true, resp: map[string]any{}, status: 200, fn: a.openAPI},
		{method: "POST", path: "/session", summary: "Log in (sets the session cookie; send the returned csrf value as X-CSRF-Token with every change)", tag: "session", public: true, body: loginRequest{}, resp: sessionV, status: 200, fn: a.login},
		{method: "GET", path: "/session", summary: "Who am I", tag: "session", enrol: true, resp: sessionV, status: 200, fn: a.whoami},
		{method: "DELETE", path: "/session", summary: "Log out", tag: "session", enrol: true, status: 204, fn: a.logout},

		{method: "GET", path: "/tenants", summary: "List tenants", tag: "tenants", resp: []*directory.Tenant{}, status: 200, fn: a.listTenants},
		{method: "POST", path: "/tenants", summary: "Create a tenant", tag: "tenants", body: tenantRequest{}, resp: tenant, status: 201, fn: a.createTenant},
		{method: "GET", path: "/tenants/{tenant}", summary: "Show a tenant", tag: "tenants", resp: tenant, status: 200, fn: a.getTenant},
		{method: "PATCH", path: "/tenants/{tenant}", summary: "Change a tenant (name, contact, contract, status, size limit)", tag: "tenants", body: tenantPatch{}, resp: tenant, status: 200, fn: a.updateTenant},
		{method: "GET", path: "/sending", summary: "Mail submitted per account today and over the last days (default 7), against the daily limit of its class of service", tag: "usage", query: []string{"tenant", "days"}, resp: []directory.SendingStat{}, status: 200, fn: a.sending},
		{method: "GET", path: "/tenants/{tenant}/usage", summary: "Accounts per class of service against the contract's caps", tag: "tenants", resp: []directory.COSUsage{}, status: 200, fn: a.usage},
		{method: "GET", path: "/tenants/{tenant}/storage", summary: "Storage used per domain and in all", tag: "tenants", resp: &directory.StorageReport{}, status: 200, fn: a.storage},
		{method: "PUT", path: "/tenants/{tenant}/caps/{cos}", summary: "Set the contract's cap of accounts of a class of service (-1: no cap)", tag: "tenants", body: capRequest{}, status: 204, fn: a.setCap},

		{method: "GET", path: "/domains", summary: "List domains", tag: "domains", query: []string{"tenant"}, resp: []*directory.Domain{}, status: 200, fn: a.listDomains},
		{method: "POST", path: "/domains", summary: "Add a domain (or an alias domain)", tag: "domains", body: domainRequest{}, resp: domain, status: 201, fn: a.addDomain},
		{method: "GET", path: "/domains/{domain}", summary: "Show a domain with the DNS records to publish (?check=1: and whether each is live)", tag: "domains", query: []string{"check"}, resp: domain, status: 200, fn: a.getDomain},
		{method: "DELETE", path: "/domains/{domain}", summary: "Remove a domain that has no addresses left", tag: "domains", status: 204, fn: a.removeDomain},

		{method: "GET", path: "/cos", summary: "List classes of service", tag: "cos", resp: []*directory.COS{}, status: 200, fn: a.listCOS},
		{method: "POST", path: "/cos", summary: "Create a class of service", tag: "cos", body: cosRequest{}, resp: cos, status: 201, fn: a.createCOS},
		{method: "GET", path: "/cos/{cos}", summary: "Show a class of service", tag: "cos", resp: cos, status: 200, fn: a.getCOS},

		{method: "GET", path: "/accounts", summary: "List accounts (paginated, filtered)", tag: "accounts", query: []string{"tenant", "domain", "cos", "status", "q", "limit", "offset"}, resp: accountPage{}, status: 200, fn: a.listAccounts},
		{method: "POST", path: "/accounts", summary: "Create an account", tag: "accounts", body: accountRequest{}, resp: account, status: 201, fn: a.createAccount},
		{method: "GET", path: "/accounts/{address}", summary: "Show an account", tag: "accounts", resp: account, status: 200, fn: a.getAccount},
		{method: "PATCH", path: "/accounts/{address}", summary: "Change an account (display name, class of service, status, forwarding, auto-reply)", tag: "accounts", body: accountPatch{}, resp: account, status: 200, fn: a.updateAccount},
		{method: "DELETE", path: "/accounts/{address}", summary: "Remove an account and its mail", tag: "accounts", status: 204, fn: a.removeAccount},
		{method: "POST", path: "/accounts/{address}/password", summary: "Set an account's password", tag: "accounts", body: passwordRequest{}, status: 204, fn: a.setPassword},
		{method: "GET", path: "/accounts/{address}/cos-change", summary: "Preview a change of class of service: new quota, features lost or gained, or why it is refused", tag: "accounts", query: []string{"cos"}, resp: &directory.COSChange{}, status: 200, fn: a.previewCOS},

		{method: "GET", path: "/aliases", summary: "List aliases", tag: "aliases", query: []string{"account", "domain"}, resp: []directory.Alias{}, status: 200, fn: a.listAliases},
		{method: "POST", path: "/aliases", summary: "Add an alias of an account", tag: "aliases", body: aliasRequest{}, resp: &directory.Alias{}, status: 201, fn: a.addAlias},
		{method: "DELETE", path: "/aliases/{address}", summary: "Remove an alias", tag: "aliases", status: 204, fn: a.removeAlias},

		{method: "GET", path: "/lists", summary: "List distribution lists", tag: "lists", query: []string{"domain"}, resp: []*directory.List{}, status: 200, fn: a.listLists},
		{method: "POST", path: "/lists", summary: "Create a distribution list", tag: "lists", body: listRequest{}, resp: list, status: 201, fn: a.createList},
		{method: "GET", path: "/lists/{address}", summary: "Show a list and its members", tag: "lists", resp: list, status: 200, fn: a.getList},
		{method: "DELETE", path: "/lists/{address}", summary: "Remove a list", tag: "lists", status: 204, fn: a.removeList},
		{method: "POST", path: "/lists/{address}/members", summary: "Add a member (local or external address, or another list)", tag: "lists", body: memberRequest{}, resp: list, status: 200, fn: a.addMember},
		{method: "DELETE", path: "/lists/{address}/members/{member}", summary: "Remove a member", tag: "lists", status: 204, fn: a.removeMember},

		{method: "GET", path: "/admins", summary: "List administrators", tag: "admins", resp: []*directory.Admin{}, status: 200, fn: a.listAdmins},
		{method: "POST", path: "/admins", summary: "Create an administrator", tag: "admins", body: adminRequest{}, resp: admin, status: 201, fn: a.createAdmin},
		{method: "DELETE", path: "/admins/{email}", summary: "Remove an administrator", tag: "admins", status: 204, fn: a.removeAdmin},

		{method: "GET", path: "/tokens", summary: "List my API tokens", tag: "tokens", resp: []webauth.Token{}, status: 200, fn: a.listTokens},
		{method: "POST", path: "/tokens", summary: "Create an API token acting as me (the token is shown once)", tag: "tokens", body: tokenRequest{}, resp: &tokenCreated{}, status: 201, fn: a.createToken},
		{method: "DELETE", path: "/tokens/{id}", summary: "Revoke one of my API tokens", tag: "tokens", status: 204, fn: a.revokeToken},

		{method: "GET", path: "/me", summary: "My own account (mailbox users)", tag: "self-service", resp: account, status: 200, fn: a.me},
		{method: "PATCH", path: "/me", summary: "Change my display name, forwarding or auto-reply", tag: "self-service", body: selfPatch{}, resp: account, status: 200, fn: a.updateMe},
		{method: "POST", path: "/me/password", summary: "Change my password", tag: "self-service", body: passwordRequest{}, status: 204, fn: a.setMyPassword},
		{method: "GET", path: "/me/app-passwords", summary: "List my app passwords", tag: "self-service", resp: []directory.AppPassword{}, status: 200, fn: a.listAppPasswords},
		{method: "POST", path: "/me/app-passwords", summary: "Create an app password for a mail client (shown once)", tag: "self-service", body: appPasswordRequest{}, resp: &appPasswordCreated{}, status: 201, fn: a.createAppPassword},
		{method: "DELETE", path: "/me/app-passwords/{id}", summary: "Revoke one of my app passwords", tag: "self-service", status: 204, fn: a.revokeAppPassword},

		{method: "GET", path: "/queue", summary: "The outbound queue (provider only)", tag: "queue", query: []string{"limit"}, resp: []queue.Entry{}, status: 200, fn: a.queueList},
		{method: "GET", path: "/queue/{id}", summary: "A queue entry with its attempts", tag: "queue", resp: &queue.Detail{}, status: 200, fn: a.queueShow},
		{method: "POST", path: "/queue/{id}/retry", summary: "Try an entry again now", tag: "queue", status: 204, fn: a.queueAct},
		{method: "POST", path: "/queue/{id}/hold", summary: "Stop trying an entry until released", tag: "queue", body: reasonRequest{}, status: 204, fn: a.queueAct},
		{method: "POST", path: "/queue/{id}/release", summary: "Put a held entry back, due now", tag: "queue", status: 204, fn: a.queueAct},
		{method: "DELETE", path: "/queue/{id}", summary: "Remove an entry without delivering it", tag: "queue", status: 204, fn: a.queueAct},
		{method: "GET", path: "/trace", summary: "What happened to a message (Message-ID) or to mail from or to an address: how it was received and delivered, and its deliveries to remote servers", tag: "queue", query: []string{"q"}, resp: &traceResult{}, status: 200, fn: a.trace},

		{method: "GET", path: "/audit", summary: "Recent changes, newest first", tag: "audit", query: []string{"tenant", "limit"}, resp: []directory.AuditEntry{}, status: 200, fn: a.audit},
	}, a.billingRoutes()...)
}

func (a *API) login(w http.ResponseWriter, r *http.Request) (any, error) {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	sess, err := a.web.Login(r.Context(), req.Email, req.Password, req.TOTP, r.RemoteAddr)
	if err != nil {
		return nil, err
	}
	webauth.SetCookie(w, sess)
	return &sessionInfo{Admin: sess.Actor.Name, Role: sess.Actor.Role, TenantID: sess.Actor.TenantID, TOTPEnrolmentRequired: sess.Actor.MustEnrolTOTP, CSRF: sess.CSRF, Expires: sess.Expires}, nil
}

func (a *API) whoami(w http.ResponseWriter, r *http.Request) (any, error) {
	actor, sess, err := a.web.Authenticate(r)
	if err != nil {
		return nil, err
	}
	info := &sessionInfo{Admin: actor.Name, Role: actor.Role, TenantID: actor.TenantID, TOTPEnrolmentRequired: actor.MustEnrolTOTP}
	if sess != nil {
		info.CSRF, info.Expires = sess.CSRF, sess.Expires
	}
	return info, nil
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) (any, error) {
	if c, err := r.Cookie(webauth.CookieName); err == nil {
		if err := a.web.Logout(r.Context(), c.Value); err != nil {
			return nil, err
		}
	}
	webauth.ClearCookie(w)
	return nil, nil
}

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.ListTenants(r.Context())
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) (any, error) {
	var req tenantRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.CreateTenant(r.Context(), directory.TenantSpec(req))
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.GetTenant(r.Context(), r.PathValue("tenant"))
}

func (a *API) updateTenant(w http.ResponseWriter, r *http.Request) (any, error) {
	var req tenantPatch
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.UpdateTenant(r.Context(), r.PathValue("tenant"), directory.TenantUpdate(req))
}

func (a *API) usage(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.Usage(r.Context(), r.PathValue("tenant"))
}

func (a *API) sending(w http.ResponseWriter, r *http.Request) (any, error) {
	days, err := queryInt(r, "days", 7)
	if err != nil {
		return nil, err
	}
	return a.dir.SendingStats(r.Context(), r.URL.Query().Get("tenant"), days)
}

func (a *API) storage(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.Storage(r.Context(), r.PathValue("tenant"))
}

func (a *API) setCap(w http.ResponseWriter, r *http.Request) (any, error) {
	var req capRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return nil, a.dir.SetContractCap(r.Context(), r.PathValue("tenant"), r.PathValue("cos"), req.Max)
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.ListDomains(r.Context(), r.URL.Query().Get("tenant"))
}

func (a *API) addDomain(w http.ResponseWriter, r *http.Request) (any, error) {
	var req domainRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	d, err := a.dir.AddDomain(r.Context(), req.Tenant, req.Name, directory.DomainOptions{AliasOf: req.AliasOf, CatchAll: req.CatchAll})
	if err != nil {
		return nil, err
	}
	return a.domainInfo(r, d)
}

// domainInfo is a domain with the records to publish, checked in DNS when asked (?check=1).
func (a *API) domainInfo(r *http.Request, d *directory.Domain) (*domainInfo, error) {
	recs, err := console.DomainRecords(r.Context(), a.opts.DKIM, d.Name, a.opts.Hostname)
	if err != nil {
		return nil, err
	}
	out := &domainInfo{Domain: d, Records: make([]dnsRecord, len(recs))}
	var states []string
	if r.URL.Query().Get("check") == "1" {
		res := a.opts.Resolver
		if res == nil {
			res = net.DefaultResolver
		}
		states = console.CheckRecords(r.Context(), res, recs, 2*time.Second)
	}
	for i, rec := range recs {
		out.Records[i].Record = rec
		if states != nil {
			out.Records[i].Live = states[i]
		}
	}
	return out, nil
}

func (a *API) getDomain(w http.ResponseWriter, r *http.Request) (any, error) {
	d, err := a.dir.GetDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return nil, err
	}
	return a.domainInfo(r, d)
}

func (a *API) removeDomain(w http.ResponseWriter, r *http.Request) (any, error) {
	return nil, a.dir.RemoveDomain(r.Context(), r.PathValue("domain"))
}

func (a *API) listCOS(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.ListCOS(r.Context())
}

func (a *API) createCOS(w http.ResponseWriter, r *http.Request) (any, error) {
	var req cosRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.CreateCOS(r.Context(), directory.COSSpec(req))
}

func (a *API) getCOS(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.GetCOS(r.Context(), r.PathValue("cos"))
}

func (a *API) listAccounts(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	offset, err := queryInt(r, "offset", 0)
	if err != nil {
		return nil, err
	}
	items, total, err := a.dir.ListAccounts(r.Context(), directory.AccountFilter{Tenant: q.Get("tenant"), Domain: q.Get("domain"),
		COS: q.Get("cos"), Status: q.Get("status"), Text: q.Get("q"), Limit: limit, Offset: offset})
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []*directory.Account{}
	}
	return accountPage{Items: items, Total: total}, nil
}

func (a *API) createAccount(w http.ResponseWriter, r *http.Request) (any, error) {
	var req accountRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.CreateAccount(r.Context(), directory.AccountSpec(req))
}

func (a *API) getAccount(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.GetAccount(r.Context(), r.PathValue("address"))
}

func (a *API) updateAccount(w http.ResponseWriter, r *http.Request) (any, error) {
	var req accountPatch
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.UpdateAccount(r.Context(), r.PathValue("address"), directory.AccountUpdate(req))
}

func (a *API) removeAccount(w http.ResponseWriter, r *http.Request) (any, error) {
	return nil, a.dir.RemoveAccount(r.Context(), r.PathValue("address"))
}

func (a *API) setPassword(w http.ResponseWriter, r *http.Request) (any, error) {
	var req passwordRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return nil, a.dir.SetPassword(r.Context(), r.PathValue("address"), req.Password)
}

func (a *API) previewCOS(w http.ResponseWriter, r *http.Request) (any, error) {
	cos := r.URL.Query().Get("cos")
	if cos == "" {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "cos", Msg: "name the class of service to preview"}
	}
	return a.dir.PreviewCOSChange(r.Context(), r.PathValue("address"), cos)
}

func (a *API) listAliases(w http.ResponseWriter, r *http.Request) (any, error) {
	out, err := a.dir.ListAliases(r.Context(), r.URL.Query().Get("account"), r.URL.Query().Get("domain"))
	if out == nil && err == nil {
		out = []directory.Alias{}
	}
	return out, err
}

func (a *API) addAlias(w http.ResponseWriter, r *http.Request) (any, error) {
	var req aliasRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.AddAlias(r.Context(), req.Address, req.Account)
}

func (a *API) removeAlias(w http.ResponseWriter, r *http.Request) (any, error) {
	return nil, a.dir.RemoveAlias(r.Context(), r.PathValue("address"))
}

func (a *API) listLists(w http.ResponseWriter, r *http.Request) (any, error) {
	out, err := a.dir.ListLists(r.Context(), r.URL.Query().Get("domain"))
	if out == nil && err == nil {
		out = []*directory.List{}
	}
	return out, err
}

func (a *API) createList(w http.ResponseWriter, r *http.Request) (any, error) {
	var req listRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.CreateList(r.Context(), directory.ListSpec(req))
}

func (a *API) getList(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.dir.GetList(r.Context(), r.PathValue("address"))
}

func (a *API) removeList(w http.ResponseWriter, r *http.Request) (any, error) {
	return nil, a.dir.RemoveList(r.Context(), r.PathValue("address"))
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request) (any, error) {
	var req memberRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := a.dir.AddListMember(r.Context(), r.PathValue("address"), req.Member); err != nil {
		return nil, err
	}
	return a.dir.GetList(r.Context(), r.PathValue("address"))
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request) (any, error) {
	return nil, a.dir.RemoveListMember(r.Context(), r.PathValue("address"), r.PathValue("member"))
}

func (a *API) listAdmins(w http.ResponseWriter, r *http.Request) (any, error) {
	out, err := a.dir.ListAdmins(r.Context())
	if out == nil && err == nil {
		out = []*directory.Admin{}
	}
	return out, err
}

func (a *API) createAdmin(w http.ResponseWriter, r *http.Request) (any, error) {
	var req adminRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.CreateAdmin(r.Context(), directory.AdminSpec(req))
}

func (a *API) removeAdmin(w http.ResponseWriter, r *http.Request) (any, error) {
	return nil, a.dir.RemoveAdmin(r.Context(), r.PathValue("email"))
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := adminID(r.Context())
	if err != nil {
		return nil, err
	}
	return a.web.ListTokens(r.Context(), id)
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := adminID(r.Context())
	if err != nil {
		return nil, err
	}
	var req tokenRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	secret, t, err := a.web.CreateToken(r.Context(), id, req.Name, req.Scopes)
	if err != nil {
		return nil, err
	}
	return &tokenCreated{Secret: secret, Token: *t}, nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := adminID(r.Context())
	if err != nil {
		return nil, err
	}
	tid, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, &directory.Error{Kind: "not-found", Msg: "no such token"}
	}
	return nil, a.web.RevokeToken(r.Context(), id, tid)
}

func (a *API) audit(w http.ResponseWriter, r *http.Request) (any, error) {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	out, err := a.dir.ListAudit(r.Context(), r.URL.Query().Get("tenant"), limit)
	if out == nil && err == nil {
		out = []directory.AuditEntry{}
	}
	return out, err
}

func (a *API) me(w http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := selfAddress(r.Context())
	if err != nil {
		return nil, err
	}
	return a.dir.GetAccount(r.Context(), addr)
}

func (a *API) updateMe(w http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := selfAddress(r.Context())
	if err != nil {
		return nil, err
	}
	var req selfPatch
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return a.dir.UpdateAccount(r.Context(), addr, directory.AccountUpdate{DisplayName: req.DisplayName, ForwardTo: req.ForwardTo,
		ForwardKeep: req.ForwardKeep, AutoReply: req.AutoReply, AutoSubject: req.AutoSubject, AutoBody: req.AutoBody})
}

func (a *API) setMyPassword(w http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := selfAddress(r.Context())
	if err != nil {
		return nil, err
	}
	var req passwordRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return nil, a.dir.SetPassword(r.Context(), addr, req.Password)
}

func (a *API) listAppPasswords(w http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := selfAddress(r.Context())
	if err != nil {
		return nil, err
	}
	return a.dir.ListAppPasswords(r.Context(), addr)
}

func (a *API) createAppPassword(w http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := selfAddress(r.Context())
	if err != nil {
		return nil, err
	}
	var req appPasswordRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	secret, p, err := a.dir.CreateAppPassword(r.Context(), addr, req.Name, func() string { return auth.GeneratePassword(20) })
	if err != nil {
		return nil, err
	}
	return &appPasswordCreated{Password: secret, AppPassword: *p}, nil
}

func (a *API) revokeAppPassword(w http.ResponseWriter, r *http.Request) (any, error) {
	addr, err := selfAddress(r.Context())
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, &directory.Error{Kind: "not-found", Msg: "no such app password"}
	}
	return nil, a.dir.RevokeAppPassword(r.Context(), addr, id)
}

func (a *API) queueEntry(r *http.Request) (int64, error) {
	if err := directory.RequireProvider(r.Context()); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, &directory.Error{Kind: "not-found", Msg: "no such queue entry"}
	}
	return id, nil
}

func queueError(err error) error {
	if errors.Is(err, queue.ErrNotFound) {
		return &directory.Error{Kind: "not-found", Msg: err.Error()}
	}
	return err
}

func (a *API) queueList(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := directory.RequireProvider(r.Context()); err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return nil, err
	}
	es, err := a.queue.List(r.Context(), limit)
	if es == nil && err == nil {
		es = []queue.Entry{}
	}
	return es, err
}

func (a *API) queueShow(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := a.queueEntry(r)
	if err != nil {
		return nil, err
	}
	d, err := a.queue.Show(r.Context(), id)
	return d, queueError(err)
}

func (a *API) queueAct(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := a.queueEntry(r)
	if err != nil {
		return nil, err
	}
	actor, _ := directory.ActorFrom(r.Context())
	var verb, reason string
	switch {
	case r.Method == http.MethodDelete:
		verb = "delete"
	case strings.HasSuffix(r.URL.Path, "/retry"):
		verb = "retry"
	case strings.HasSuffix(r.URL.Path, "/release"):
		verb = "release"
	default:
		verb = "hold"
		var req reasonRequest
		if r.ContentLength != 0 {
			if err := decode(r, &req); err != nil {
				return nil, err
			}
		}
		reason = req.Reason
	}
	before, after, err := a.queue.Operate(r.Context(), id, verb, reason, actor.Name)
	if err != nil {
		return nil, queueError(err)
	}
	return nil, a.dir.RecordChange(r.Context(), 0, "queue."+verb, strconv.FormatInt(id, 10), before, after)
}

func (a *API) trace(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := directory.RequireProvider(r.Context()); err != nil {
		return nil, err
	}
	q := r.URL.Query().Get("q")
	if q == "" {
		return nil, &directory.Error{Kind: "invalid-argument", Field: "q", Msg: "name a Message-ID or an address"}
	}
	t := &traceResult{Received: []*msglog.Entry{}, Outbound: []queue.TraceEntry{}}
	if a.opts.MsgLog != nil {
		es, err := a.opts.MsgLog.Find(r.Context(), q, 50)
		if err != nil {
			return nil, err
		}
		t.Received = append(t.Received, es...)
	}
	tr, err := a.queue.Trace(r.Context(), q, 50)
	if err != nil {
		return nil, err
	}
	t.Outbound = append(t.Outbound, tr...)
	return t, nil
}

// traceResult is what happened to a message: how it was received and what became of each
// recipient (the message log), and its deliveries to remote servers (the queue).
type traceResult struct {
	Received []*msglog.Entry    `json:"received"`
	Outbound []queue.TraceEntry `json:"outbound"`
}
