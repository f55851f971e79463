package autoconfig

import (
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves the autoconfig and Autodiscover documents, on the HTTP and HTTPS listeners.
type Handler struct {
	settings Settings
	domains  Domains
	log      *slog.Logger
}

// New returns the handler for settings; domains decides which domains it answers for.
func New(settings Settings, domains Domains, log *slog.Logger) *Handler {
	return &Handler{settings: settings, domains: domains, log: logger(log)}
}

// Paths served (Autodiscover is matched without regard to case, as Outlook spells it both ways).
const (
	WellKnownPath    = "/.well-known/autoconfig/mail/config-v1.1.xml"
	AutoconfigPath   = "/mail/config-v1.1.xml"
	AutodiscoverPath = "/autodiscover/autodiscover.xml"
)

// Register mounts the handler's paths on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+WellKnownPath, h.thunderbird)
	mux.HandleFunc("GET "+AutoconfigPath, h.thunderbird)
	for _, p := range []string{"/autodiscover/", "/Autodiscover/", "/AutoDiscover/"} {
		mux.HandleFunc(p, h.autodiscover)
	}
}

// ServeHTTP serves the handler's paths (for use without Register).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == WellKnownPath || r.URL.Path == AutoconfigPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.thunderbird(w, r)
	case strings.HasPrefix(strings.ToLower(r.URL.Path), "/autodiscover/"):
		h.autodiscover(w, r)
	default:
		http.NotFound(w, r)
	}
}

// hosted checks that domain is served here; it answers 400 or 404 otherwise.
func (h *Handler) hosted(w http.ResponseWriter, r *http.Request, domain string) bool {
	if domain == "" {
		http.Error(w, "name an e-mail address (emailaddress=user@example.com)", http.StatusBadRequest)
		return false
	}
	ok, err := h.domains.IsLocalDomain(r.Context(), domain)
	if err != nil {
		h.log.Error("autoconfig: domain lookup", "domain", domain, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return false
	}
	if !ok {
		http.Error(w, "no mail service for "+domain+" here", http.StatusNotFound)
		return false
	}
	return true
}

// hostDomain is the domain named by an autoconfig.<domain> or autodiscover.<domain> host.
func hostDomain(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, p := range []string{"autoconfig.", "autodiscover."} {
		if d, ok := strings.CutPrefix(host, p); ok {
			return normDomain(d)
		}
	}
	return ""
}

// Thunderbird's autoconfig format (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string     `xml:"id,attr"`
	Domain           string     `xml:"domain"`
	DisplayName      string     `xml:"displayName"`
	DisplayShortName string     `xml:"displayShortName"`
	Incoming         []tbServer `xml:"incomingServer"`
	Outgoing         []tbServer `xml:"outgoingServer"`
}

type tbServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

// ThunderbirdXML returns the config-v1.1.xml document for domain.
func (s Settings) ThunderbirdXML(domain string) []byte {
	conv := func(list []Server) []tbServer {
		var out []tbServer
		for _, sv := range list {
			sock := "SSL"
			if sv.Security == "starttls" {
				sock = "STARTTLS"
			}
			out = append(out, tbServer{Type: sv.Protocol, Hostname: s.Hostname, Port: sv.Port, SocketType: sock,
				Authentication: "password-cleartext", Username: "%EMAILADDRESS%"})
		}
		return out
	}
	doc := clientConfig{Version: "1.1", Provider: emailProvider{ID: domain, Domain: domain, DisplayName: domain + " mail",
		DisplayShortName: domain, Incoming: conv(s.Incoming()), Outgoing: conv(s.Outgoing())}}
	b, _ := xml.MarshalIndent(doc, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...)
}

func (h *Handler) thunderbird(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	domain := ""
	if addr := q.Get("emailaddress"); addr != "" {
		if domain = domainOfAddress(addr); domain == "" {
			http.Error(w, "emailaddress is not a valid e-mail address", http.StatusBadRequest)
			return
		}
	} else {
		domain = hostDomain(r.Host)
	}
	if !h.hosted(w, r, domain) {
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(h.settings.ThunderbirdXML(domain))
}

// Autodiscover POX (MS-OXDSCLI): the request names the address; the response lists one
// protocol of each kind.
const (
	adResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	adOutlookNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	XMLNS    string   `xml:"xmlns,attr"`
	Response struct {
		XMLNS   string `xml:"xmlns,attr"`
		Account struct {
			AccountType string       `xml:"AccountType"`
			Action      string       `xml:"Action"`
			Protocol    []adProtocol `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"`
	AuthRequired   string `xml:"AuthRequired"`
	UsePOPAuth     string `xml:"UsePOPAuth,omitempty"`
}

// AutodiscoverXML returns the Autodiscover POX response for address.
func (s Settings) AutodiscoverXML(address string) []byte {
	var doc adResponse
	doc.XMLNS = adResponseNS
	doc.Response.XMLNS = adOutlookNS
	doc.Response.Account.AccountType = "email"
	doc.Response.Account.Action = "settings"
	proto := func(typ string, sv Server) adProtocol {
		p := adProtocol{Type: typ, Server: s.Hostname, Port: sv.Port, DomainRequired: "off", LoginName: address, SPA: "off", AuthRequired: "on"}
		if sv.Security == "tls" {
			p.SSL, p.Encryption = "on", "SSL"
		} else {
			p.SSL, p.Encryption = "on", "TLS"
		}
		return p
	}
	in := s.Incoming()
	if sv, ok := first(in, "imap"); ok {
		doc.Response.Account.Protocol = append(doc.Response.Account.Protocol, proto("IMAP", sv))
	}
	if sv, ok := first(in, "pop3"); ok {
		doc.Response.Account.Protocol = append(doc.Response.Account.Protocol, proto("POP3", sv))
	}
	if sv, ok := first(s.Outgoing(), "smtp"); ok {
		p := proto("SMTP", sv)
		p.UsePOPAuth = "on"
		doc.Response.Account.Protocol = append(doc.Response.Account.Protocol, p)
	}
	b, _ := xml.MarshalIndent(doc, "", "  ")
	return append([]byte(xml.Header), append(b, '\n')...)
}

func (h *Handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.Path, AutodiscoverPath) {
		http.NotFound(w, r)
		return
	}
	var address string
	switch r.Method {
	case http.MethodPost:
		var req adRequest
		dec := xml.NewDecoder(io.LimitReader(r.Body, 64<<10))
		if err := dec.Decode(&req); err != nil {
			msg := "the body must be an Autodiscover request (XML)"
			if errors.Is(err, io.EOF) {
				msg = "empty body: send an Autodiscover request naming EMailAddress"
			}
			http.Error(w, msg, http.StatusBadRequest)
			return
		}
		address = req.Request.EMailAddress
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		for _, k := range []string{"Email", "email", "emailaddress", "EMailAddress"} {
			if v := q.Get(k); v != "" {
				address = v
				break
			}
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	address = strings.TrimSpace(address)
	domain := domainOfAddress(address)
	if address != "" && domain == "" {
		http.Error(w, "EMailAddress is not a valid e-mail address", http.StatusBadRequest)
		return
	}
	if !h.hosted(w, r, domain) {
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=300")
	body := h.settings.AutodiscoverXML(address)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}
