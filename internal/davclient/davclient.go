// Package davclient fetches address books and calendars from CardDAV (RFC 6352) and CalDAV
// (RFC 4791) servers, as a client of WebDAV (RFC 4918): discovery when only a host is given
// (/.well-known/carddav or /.well-known/caldav, RFC 6764, then current-user-principal, RFC
// 5397, and the principal's home set), the collections of a home set (PROPFIND Depth 1), and
// every object of a collection (REPORT addressbook-query or calendar-query, then a multiget
// for the objects a server listed without their data). It authenticates with Basic over HTTPS
// (plain HTTP only to a loopback address).
//
// It only reads from the server; what the objects mean and storing them is the pim package's.
package davclient

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// Kind is what to fetch.
type Kind int

const (
	AddressBooks Kind = iota + 1 // CardDAV
	Calendars                    // CalDAV
)

func (k Kind) String() string {
	if k == Calendars {
		return "a calendar"
	}
	return "an address book"
}

// Namespaces of the protocols.
const (
	nsCardDAV = "urn:ietf:params:xml:ns:carddav"
	nsCalDAV  = "urn:ietf:params:xml:ns:caldav"
)

// DefaultMaxBytes bounds what one Fetch reads from the server in all.
const DefaultMaxBytes = 32 << 20

// Client fetches from one server with one user's credentials.
type Client struct {
	// HTTP sends the requests; nil: a client with a two-minute timeout. Its redirect policy is
	// replaced: redirects are followed here, keeping the method, and only on the same host.
	HTTP     *http.Client
	User     string
	Password string
	// MaxBytes bounds the bytes read in one Fetch; 0: DefaultMaxBytes.
	MaxBytes int64
}

// Collection is an address book or a calendar with its objects.
type Collection struct {
	URL       string
	Name      string // the server's display name, "" when it has none
	Color     string // a calendar's colour (Apple's calendar-color), "" when it has none
	CTag      string
	Resources []Resource
}

// Resource is one object of a collection: a vCard or an iCalendar object. Its data has CRLF
// line ends (XML parsers turn them into LF; the formats require CRLF).
type Resource struct {
	Href string
	ETag string
	Data []byte
}

// Error is an answer of the server that stops the fetch.
type Error struct {
	Method, URL string
	Status      int
	Msg         string
}

func (e *Error) Error() string {
	if e.Status == http.StatusUnauthorized {
		return fmt.Sprintf("%s %s: the server refused the credentials (401)", e.Method, e.URL)
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, e.Msg)
	}
	return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Msg)
}

// fetch is the state of one Fetch.
type fetch struct {
	c    *Client
	http *http.Client
	host string
	left int64
}

// Fetch returns the collections of the kind at rawURL with all their objects. rawURL names a
// collection, a principal, a home set, or just the server (https://host), in which case the
// well-known URL and the user's principal lead to the collections.
func (c *Client) Fetch(ctx context.Context, kind Kind, rawURL string) ([]Collection, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("davclient: %q is not a URL of a server", rawURL)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback(u.Hostname()):
	default:
		return nil, fmt.Errorf("davclient: %s: only https:// is allowed (credentials are sent with Basic authentication; plain http only to a loopback address)", rawURL)
	}
	u.User, u.Fragment = nil, ""
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	copied := *hc
	copied.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	max := c.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	f := &fetch{c: c, http: &copied, host: u.Host, left: max}
	if u.Path == "" || u.Path == "/" {
		wk := "/.well-known/carddav"
		if kind == Calendars {
			wk = "/.well-known/caldav"
		}
		if found, err := f.find(ctx, kind, u.ResolveReference(&url.URL{Path: wk})); err == nil {
			return f.objects(ctx, kind, found)
		}
		u.Path = "/"
	}
	found, err := f.find(ctx, kind, u)
	if err != nil {
		return nil, err
	}
	return f.objects(ctx, kind, found)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// find returns the collections of the kind at u: u itself, or those of the home set of u's
// principal.
func (f *fetch) find(ctx context.Context, kind Kind, u *url.URL) ([]Collection, error) {
	ms, at, err := f.propfind(ctx, u, "0")
	if err != nil {
		return nil, err
	}
	r := ms.first()
	if r == nil {
		return nil, &Error{Method: "PROPFIND", URL: at.String(), Msg: "empty multistatus"}
	}
	p := r.props()
	if p.ResourceType.is(kind) {
		return []Collection{{URL: at.String(), Name: p.DisplayName, Color: p.Color, CTag: p.CTag}}, nil
	}
	if other := AddressBooks + Calendars - kind; p.ResourceType.is(other) {
		return nil, &Error{Method: "PROPFIND", URL: at.String(), Msg: "this is " + other.String() + ", not " + kind.String()}
	}
	home := p.home(kind)
	if home == "" {
		principal := p.Principal.Href
		if principal == "" {
			return nil, &Error{Method: "PROPFIND", URL: at.String(), Msg: "neither a collection nor a principal (no current-user-principal)"}
		}
		pu, err := at.Parse(strings.TrimSpace(principal))
		if err != nil {
			return nil, &Error{Method: "PROPFIND", URL: at.String(), Msg: fmt.Sprintf("bad principal href %q", principal)}
		}
		ms, pat, err := f.propfind(ctx, pu, "0")
		if err != nil {
			return nil, err
		}
		if r := ms.first(); r != nil {
			home = r.props().home(kind)
		}
		if home == "" {
			set := "addressbook-home-set"
			if kind == Calendars {
				set = "calendar-home-set"
			}
			return nil, &Error{Method: "PROPFIND", URL: pat.String(), Msg: "the principal has no " + set}
		}
		at = pat
	}
	hu, err := at.Parse(strings.TrimSpace(home))
	if err != nil {
		return nil, &Error{Method: "PROPFIND", URL: at.String(), Msg: fmt.Sprintf("bad home set href %q", home)}
	}
	ms, hat, err := f.propfind(ctx, hu, "1")
	if err != nil {
		return nil, err
	}
	var out []Collection
	for i := range ms.Responses {
		r := &ms.Responses[i]
		p := r.props()
		if !p.ResourceType.is(kind) || kind == Calendars && !p.Components.eventsOrTasks() {
			continue
		}
		cu, err := hat.Parse(strings.TrimSpace(r.Href))
		if err != nil {
			continue
		}
		out = append(out, Collection{URL: cu.String(), Name: p.DisplayName, Color: p.Color, CTag: p.CTag})
	}
	if len(out) == 0 {
		return nil, &Error{Method: "PROPFIND", URL: hat.String(), Msg: "no collection of this kind in the home set"}
	}
	return out, nil
}

// objects fills each collection with its objects.
func (f *fetch) objects(ctx context.Context, kind Kind, cols []Collection) ([]Collection, error) {
	for i := range cols {
		u, _ := url.Parse(cols[i].URL)
		res, err := f.collection(ctx, kind, u)
		if err != nil {
			return nil, err
		}
		cols[i].Resources = res
	}
	return cols, nil
}

const (
	propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/" xmlns:I="http://apple.com/ns/ical/">
  <D:prop><D:resourcetype/><D:displayname/><D:current-user-principal/><A:addressbook-home-set/><C:calendar-home-set/><C:supported-calendar-component-set/><CS:getctag/><I:calendar-color/></D:prop>
</D:propfind>`
	cardQuery = `<?xml version="1.0" encoding="utf-8"?>
<A:addressbook-query xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:getetag/><A:address-data/></D:prop>
  <A:filter/>
</A:addressbook-query>`
	calQuery = `<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"/></C:filter>
</C:calendar-query>`
)

// multigetBatch bounds the hrefs of one multiget.
const multigetBatch = 100

// collection returns every object of the collection at u.
func (f *fetch) collection(ctx context.Context, kind Kind, u *url.URL) ([]Resource, error) {
	body := cardQuery
	if kind == Calendars {
		body = calQuery
	}
	ms, at, err := f.request(ctx, "REPORT", u, "1", body)
	if err != nil {
		return nil, err
	}
	var out []Resource
	var missing []string
	self := strings.TrimSuffix(at.Path, "/")
	for i := range ms.Responses {
		r := &ms.Responses[i]
		ru, err := at.Parse(strings.TrimSpace(r.Href))
		if err != nil || strings.TrimSuffix(ru.Path, "/") == self {
			continue
		}
		p := r.props()
		data := p.data(kind)
		if strings.TrimSpace(data) == "" {
			if r.ok() {
				missing = append(missing, r.Href)
			}
			continue
		}
		out = append(out, Resource{Href: ru.String(), ETag: p.ETag, Data: crlf(data)})
	}
	for len(missing) > 0 {
		n := min(len(missing), multigetBatch)
		got, err := f.multiget(ctx, kind, at, missing[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
		missing = missing[n:]
	}
	return out, nil
}

func (f *fetch) multiget(ctx context.Context, kind Kind, u *url.URL, hrefs []string) ([]Resource, error) {
	var b bytes.Buffer
	if kind == Calendars {
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>`)
	} else {
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?><A:addressbook-multiget xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><A:address-data/></D:prop>`)
	}
	for _, h := range hrefs {
		b.WriteString("<D:href>")
		xml.EscapeText(&b, []byte(h))
		b.WriteString("</D:href>")
	}
	if kind == Calendars {
		b.WriteString("</C:calendar-multiget>")
	} else {
		b.WriteString("</A:addressbook-multiget>")
	}
	ms, at, err := f.request(ctx, "REPORT", u, "1", b.String())
	if err != nil {
		return nil, err
	}
	var out []Resource
	for i := range ms.Responses {
		r := &ms.Responses[i]
		if data := r.props().data(kind); strings.TrimSpace(data) != "" {
			ru, err := at.Parse(strings.TrimSpace(r.Href))
			if err != nil {
				continue
			}
			out = append(out, Resource{Href: ru.String(), ETag: r.props().ETag, Data: crlf(data)})
		}
	}
	return out, nil
}

// crlf gives text the CRLF line ends that XML parsing took away.
func crlf(s string) []byte {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

func (f *fetch) propfind(ctx context.Context, u *url.URL, depth string) (*multistatus, *url.URL, error) {
	return f.request(ctx, "PROPFIND", u, depth, propfindBody)
}

// request sends a WebDAV request and reads its multistatus answer, following redirects on
// the same host with the same method. It returns the URL that answered.
func (f *fetch) request(ctx context.Context, method string, u *url.URL, depth, body string) (*multistatus, *url.URL, error) {
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(body))
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
		req.Header.Set("Depth", depth)
		if f.c.User != "" || f.c.Password != "" {
			req.SetBasicAuth(f.c.User, f.c.Password)
		}
		resp, err := f.http.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("davclient: %s %s: %w", method, u, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, f.left+1))
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("davclient: %s %s: %w", method, u, err)
		}
		if f.left -= int64(len(data)); f.left < 0 {
			return nil, nil, &Error{Method: method, URL: u.String(), Msg: "the server sent more than the limit of one import"}
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc, err := u.Parse(resp.Header.Get("Location"))
			if err != nil || resp.Header.Get("Location") == "" {
				return nil, nil, &Error{Method: method, URL: u.String(), Status: resp.StatusCode, Msg: "redirect without a valid Location"}
			}
			if loc.Host != f.host || loc.Scheme != u.Scheme {
				return nil, nil, &Error{Method: method, URL: u.String(), Status: resp.StatusCode, Msg: "redirect to another server (" + loc.Host + ") refused: name it yourself"}
			}
			if hops >= 5 {
				return nil, nil, &Error{Method: method, URL: u.String(), Msg: "too many redirects"}
			}
			u = loc
			continue
		case http.StatusMultiStatus:
		default:
			return nil, nil, &Error{Method: method, URL: u.String(), Status: resp.StatusCode, Msg: http.StatusText(resp.StatusCode)}
		}
		var ms multistatus
		if err := xml.Unmarshal(data, &ms); err != nil {
			return nil, nil, &Error{Method: method, URL: u.String(), Msg: fmt.Sprintf("bad multistatus: %v", err)}
		}
		return &ms, u, nil
	}
}

// The WebDAV answer (RFC 4918 §14.16), with the properties read here.
type multistatus struct {
	Responses []response `xml:"DAV: response"`
}

type response struct {
	Href      string     `xml:"DAV: href"`
	Status    string     `xml:"DAV: status"`
	Propstats []propstat `xml:"DAV: propstat"`
}

type propstat struct {
	Prop   prop   `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

type hrefs struct {
	Href string `xml:"DAV: href"`
}

type anyElem struct {
	XMLName xml.Name
	Name    string `xml:"name,attr"`
}

type elems struct {
	Elems []anyElem `xml:",any"`
}

type prop struct {
	ResourceType elems  `xml:"DAV: resourcetype"`
	DisplayName  string `xml:"DAV: displayname"`
	ETag         string `xml:"DAV: getetag"`
	Principal    hrefs  `xml:"DAV: current-user-principal"`
	CardHome     hrefs  `xml:"urn:ietf:params:xml:ns:carddav addressbook-home-set"`
	CalHome      hrefs  `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`
	Components   elems  `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
	CTag         string `xml:"http://calendarserver.org/ns/ getctag"`
	Color        string `xml:"http://apple.com/ns/ical/ calendar-color"`
	AddressData  string `xml:"urn:ietf:params:xml:ns:carddav address-data"`
	CalendarData string `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`
}

func (ms *multistatus) first() *response {
	if len(ms.Responses) == 0 {
		return nil
	}
	return &ms.Responses[0]
}

// ok reports whether the response as a whole is not an error.
func (r *response) ok() bool { return r.Status == "" || statusOK(r.Status) }

func statusOK(s string) bool {
	f := strings.Fields(s)
	return len(f) >= 2 && strings.HasPrefix(f[1], "2")
}

// props merges the properties of the successful propstats.
func (r *response) props() prop {
	var p prop
	for _, ps := range r.Propstats {
		if !statusOK(ps.Status) {
			continue
		}
		q := ps.Prop
		if len(q.ResourceType.Elems) > 0 {
			p.ResourceType = q.ResourceType
		}
		if len(q.Components.Elems) > 0 {
			p.Components = q.Components
		}
		for _, pair := range [][2]*string{{&p.DisplayName, &q.DisplayName}, {&p.ETag, &q.ETag}, {&p.Principal.Href, &q.Principal.Href},
			{&p.CardHome.Href, &q.CardHome.Href}, {&p.CalHome.Href, &q.CalHome.Href}, {&p.CTag, &q.CTag}, {&p.Color, &q.Color}, {&p.AddressData, &q.AddressData}, {&p.CalendarData, &q.CalendarData}} {
			if *pair[1] != "" {
				*pair[0] = *pair[1]
			}
		}
	}
	return p
}

func (p prop) home(kind Kind) string {
	if kind == Calendars {
		return p.CalHome.Href
	}
	return p.CardHome.Href
}

func (p prop) data(kind Kind) string {
	if kind == Calendars {
		return p.CalendarData
	}
	return p.AddressData
}

// is reports whether the resource types name a collection of the kind.
func (e elems) is(kind Kind) bool {
	want := xml.Name{Space: nsCardDAV, Local: "addressbook"}
	if kind == Calendars {
		want = xml.Name{Space: nsCalDAV, Local: "calendar"}
	}
	for _, el := range e.Elems {
		if el.XMLName == want {
			return true
		}
	}
	return false
}

// eventsOrTasks reports whether a calendar holds events or tasks (a calendar that does not
// say holds any component).
func (e elems) eventsOrTasks() bool {
	if len(e.Elems) == 0 {
		return true
	}
	for _, el := range e.Elems {
		if el.XMLName.Local == "comp" && (strings.EqualFold(el.Name, "VEVENT") || strings.EqualFold(el.Name, "VTODO")) {
			return true
		}
	}
	return false
}

// PathName returns the last segment of the collection's path, for a collection without a
// display name.
func (c *Collection) PathName() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return ""
	}
	name, _ := url.PathUnescape(path.Base(strings.TrimSuffix(u.Path, "/")))
	if name == "." || name == "/" {
		return ""
	}
	return name
}
