package api

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/pim"
)

// Media types of the import bodies.
var (
	vcardTypes    = []string{"text/vcard", "text/x-vcard", "text/directory"}
	calendarTypes = []string{"text/calendar"}
)

func (a *API) pimRoutes() []route {
	return []route{
		{method: "GET", path: "/accounts/{address}/contacts", summary: "The account's contacts by name (book: one address book; q: part of a name, e-mail address, phone number or organisation)", tag: "contacts", query: []string{"book", "q", "limit"}, resp: []pim.Contact{}, status: 200, fn: a.contacts},
		{method: "POST", path: "/accounts/{address}/contacts", summary: "Import the vCards of the body (text/vcard: vCard 2.1, 3.0 or 4.0, one or more cards) into an address book (book, made when missing; default Contacts). A card whose UID is stored is updated when it changed and skipped when not; invalid cards are listed with their line. Nothing valid: 422 invalid-vcard", tag: "contacts", query: []string{"book"}, resp: &pim.Result{}, status: 200, fn: a.importContacts, bodyTypes: vcardTypes, maxBody: pim.MaxImportBytes},
		{method: "GET", path: "/accounts/{address}/contacts/export", summary: "An address book as a .vcf file (book; default Contacts): every card as it was received", tag: "contacts", query: []string{"book"}, status: 200, fn: a.exportContacts, files: vcardTypes[:1]},
		{method: "GET", path: "/accounts/{address}/contacts/books", summary: "The account's address books (Contacts is made on first use)", tag: "contacts", resp: []pim.AddressBook{}, status: 200, fn: a.addressBooks},
		{method: "GET", path: "/accounts/{address}/calendars", summary: "The account's calendars (Calendar is made on first use)", tag: "calendars", resp: []pim.Calendar{}, status: 200, fn: a.calendars},
		{method: "GET", path: "/accounts/{address}/calendars/export", summary: "A calendar as an .ics file (calendar; default Calendar): each object's VCALENDAR as it was received", tag: "calendars", query: []string{"calendar"}, status: 200, fn: a.exportCalendar, files: calendarTypes},
		{method: "GET", path: "/accounts/{address}/calendars/objects", summary: "The account's events and tasks by start (calendar: one calendar; from, to: dates or RFC 3339 times, objects overlapping the range; a recurring object counts from its first start to the end of its last occurrence)", tag: "calendars", query: []string{"calendar", "from", "to", "limit"}, resp: []pim.CalendarObject{}, status: 200, fn: a.calendarObjects},
		{method: "POST", path: "/accounts/{address}/calendars/objects", summary: "Import the events and tasks of the body (text/calendar) into a calendar (calendar, made when missing; default Calendar), one object per UID, idempotently. Invalid ones are listed with their line. Nothing valid: 422 invalid-icalendar", tag: "calendars", query: []string{"calendar"}, resp: &pim.Result{}, status: 200, fn: a.importCalendar, bodyTypes: calendarTypes, maxBody: pim.MaxImportBytes},
	}
}

var errNoPIM = &directory.Error{Kind: "pim-disabled", Msg: "address books and calendars are not configured on this server"}

func (a *API) pim() (*pim.Service, error) {
	if a.opts.PIM == nil {
		return nil, errNoPIM
	}
	return a.opts.PIM, nil
}

// textBody reads a body that must be of one of the media types.
func textBody(r *http.Request, types []string) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !slices.Contains(types, mt) {
		return nil, fmt.Errorf("%w: Content-Type must be %s, got %q", errMalformed, types[0], r.Header.Get("Content-Type"))
	}
	return io.ReadAll(r.Body)
}

func (a *API) contacts(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	return p.Contacts(r.Context(), r.PathValue("address"), pim.ContactFilter{Book: q.Get("book"), Text: q.Get("q"), Limit: limit})
}

func (a *API) importContacts(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	data, err := textBody(r, vcardTypes)
	if err != nil {
		return nil, err
	}
	return p.ImportContacts(r.Context(), r.PathValue("address"), r.URL.Query().Get("book"), pim.Source{Data: data})
}

func (a *API) addressBooks(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	return p.AddressBooks(r.Context(), r.PathValue("address"))
}

func (a *API) calendars(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	return p.Calendars(r.Context(), r.PathValue("address"))
}

// queryTime reads a range bound: a date (midnight UTC) or an RFC 3339 time.
func queryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	t, ok := pim.ParseBound(v)
	if !ok {
		return t, &directory.Error{Kind: "invalid-argument", Field: name, Msg: fmt.Sprintf("%s must be a date (2026-12-01) or an RFC 3339 time, got %q", name, v)}
	}
	return t, nil
}

func (a *API) calendarObjects(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	limit, err := queryInt(r, "limit", 0)
	if err != nil {
		return nil, err
	}
	from, err := queryTime(r, "from")
	if err != nil {
		return nil, err
	}
	to, err := queryTime(r, "to")
	if err != nil {
		return nil, err
	}
	return p.CalendarObjects(r.Context(), r.PathValue("address"), pim.ObjectFilter{Calendar: r.URL.Query().Get("calendar"), From: from, To: to, Limit: limit})
}

func (a *API) importCalendar(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	data, err := textBody(r, calendarTypes)
	if err != nil {
		return nil, err
	}
	return p.ImportCalendar(r.Context(), r.PathValue("address"), r.URL.Query().Get("calendar"), pim.Source{Data: data})
}

func (a *API) exportContacts(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	data, err := p.ExportContacts(r.Context(), r.PathValue("address"), r.URL.Query().Get("book"))
	if err != nil {
		return nil, err
	}
	return &reply{status: 200, contentType: "text/vcard; charset=utf-8", name: "contacts.vcf", body: data}, nil
}

func (a *API) exportCalendar(w http.ResponseWriter, r *http.Request) (any, error) {
	p, err := a.pim()
	if err != nil {
		return nil, err
	}
	data, err := p.ExportCalendar(r.Context(), r.PathValue("address"), r.URL.Query().Get("calendar"))
	if err != nil {
		return nil, err
	}
	return &reply{status: 200, contentType: "text/calendar; charset=utf-8", name: "calendar.ics", body: data}, nil
}
