package console

import (
	"maps"
	"net/http"
	"strconv"

	"github.com/postamail/posta/internal/directory"
)

// enrolPath reports whether a request is one that an administrator who must first turn on
// two-factor login may make: its own page, the two steps of the set-up, logging out.
func enrolPath(r *http.Request) bool {
	switch r.Method + " " + r.URL.Path {
	case "GET /me", "POST /me/totp/setup", "POST /me/totp/enable", "POST /logout":
		return true
	}
	return false
}

// totpPolicy is the card of the administrators page that requires two-factor login of every
// administrator (the provider) or of a tenant's administrators.
type totpPolicy struct {
	Provider bool // every administrator must use it
	Tenants  []*directory.Tenant
}

func (c *Console) loadTOTPPolicy(r *http.Request, tenants []*directory.Tenant) (totpPolicy, error) {
	on, err := c.dir.TOTPRequired(r.Context(), "")
	return totpPolicy{Provider: on, Tenants: tenants}, err
}

// totpPolicySet applies the policy form: scope "provider" (every administrator) or a tenant id.
func (c *Console) totpPolicySet(w http.ResponseWriter, r *http.Request, v *view) error {
	f := postForm(r, v.L)
	on := f.Get("required") == "on"
	scope, name := f.Get("scope"), ""
	if scope != "provider" {
		id, err := strconv.ParseInt(scope, 10, 64)
		if err != nil {
			return directory.ErrNotFound
		}
		t, err := c.dir.GetTenant(r.Context(), strconv.FormatInt(id, 10))
		if err != nil {
			return err
		}
		name = t.Name
	}
	if err := c.dir.SetTOTPRequired(r.Context(), name, on); err != nil {
		return err
	}
	key := "flash.totp_policy_off"
	if on {
		key = "flash.totp_policy_on"
	}
	return redirect(w, r, "/admins", key, "")
}

func init() {
	maps.Copy(messagesEN, securityEN)
	maps.Copy(messagesIT, securityIT)
}

var securityEN = map[string]string{
	"totp.policy":                        "Two-factor login required",
	"totp.policy_text":                   "Administrators without a second factor can, after the password, only set one up.",
	"totp.policy.provider":               "Every administrator",
	"totp.policy.required":               "Required",
	"totp.policy.optional":               "Optional",
	"totp.policy.require":                "Require",
	"totp.policy.stop":                   "Stop requiring",
	"me.totp.required_text":              "Two-factor login is required for your account. Set it up now: until then no other page is available.",
	"flash.totp_policy_on":               "Two-factor login is now required.",
	"flash.totp_policy_off":              "Two-factor login is no longer required.",
	"kind.totp-enrolment-required":       "Two-factor login must be set up first",
	"kind.totp-enforced":                 "Two-factor login is required",
	"kind.invalid-totp-code":             "Invalid code",
	"audit.action.security.require_totp": "Two-factor login requirement changed (all administrators)",
	"cos.max_messages":                   "Messages kept at most",
	"cos.limit_msgs":                     "at most %d messages;",
	"audit.action.tenant.require_totp":   "Two-factor login requirement changed",
}

var securityIT = map[string]string{
	"totp.policy":                        "Accesso a due fattori obbligatorio",
	"totp.policy_text":                   "Gli amministratori senza secondo fattore, dopo la password, possono solo configurarlo.",
	"totp.policy.provider":               "Tutti gli amministratori",
	"totp.policy.required":               "Obbligatorio",
	"totp.policy.optional":               "Facoltativo",
	"totp.policy.require":                "Rendi obbligatorio",
	"totp.policy.stop":                   "Rendi facoltativo",
	"me.totp.required_text":              "L'accesso a due fattori è obbligatorio per il tuo account. Configuralo ora: fino ad allora nessun'altra pagina è disponibile.",
	"flash.totp_policy_on":               "L'accesso a due fattori ora è obbligatorio.",
	"flash.totp_policy_off":              "L'accesso a due fattori non è più obbligatorio.",
	"kind.totp-enrolment-required":       "Occorre prima configurare l'accesso a due fattori",
	"kind.totp-enforced":                 "L'accesso a due fattori è obbligatorio",
	"kind.invalid-totp-code":             "Codice non valido",
	"audit.action.security.require_totp": "Obbligo dell'accesso a due fattori modificato (tutti gli amministratori)",
	"cos.max_messages":                   "Messaggi conservati al massimo",
	"cos.limit_msgs":                     "al massimo %d messaggi;",
	"audit.action.tenant.require_totp":   "Obbligo dell'accesso a due fattori modificato",
}
