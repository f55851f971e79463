package console

import "time"

// When shows the start of an event: the date alone for all-day ones, "–" for none.
func (l *lang) When(t *time.Time, allDay bool) string {
	switch {
	case t == nil:
		return "–"
	case allDay && l.Code == "it":
		return t.Format("02/01/2006")
	case allDay:
		return t.Format("2006-01-02")
	case l.Code == "it":
		return t.Format("02/01/2006 15:04") + " UTC"
	}
	return t.Format("2006-01-02 15:04") + " UTC"
}

// Until shows the end of an event: for an all-day one its last day (the stored end is the
// midnight after it).
func (l *lang) Until(start, end *time.Time, allDay bool) string {
	if allDay && end != nil && start != nil && end.After(*start) {
		last := end.AddDate(0, 0, -1)
		return l.When(&last, true)
	}
	return l.When(end, allDay)
}

// The strings of the import of contacts and calendars on the self-service page, added to the
// catalogues when the package loads.
func init() {
	for k, v := range pimEN {
		messagesEN[k] = v
	}
	for k, v := range pimIT {
		messagesIT[k] = v
	}
}

var pimEN = map[string]string{
	"pim.title":              "Contacts and calendar",
	"pim.counts":             "%s contacts · %s events and tasks",
	"pim.intro":              "Bring your contacts and appointments from another service: export them as a .vcf file (contacts) or an .ics file (calendar) and import it here. Importing the same file again updates what changed and adds nothing twice.",
	"pim.file":               "File (.vcf or .ics)",
	"pim.file_hint":          "vCard 2.1, 3.0 or 4.0, as Google, Apple and Outlook export them; iCalendar with events and tasks. At most 32 MB.",
	"pim.import":             "Import",
	"pim.result":             "Imported into %s",
	"pim.n_imported":         "new",
	"pim.n_updated":          "updated",
	"pim.n_skipped":          "unchanged",
	"pim.n_errors":           "not imported",
	"pim.error":              "Not imported, and why",
	"pim.no_file":            "Choose the file to import.",
	"pim.too_large":          "The file is larger than %d MB.",
	"pim.unknown_file":       "This is neither a vCard (.vcf) nor an iCalendar (.ics) file.",
	"kind.invalid-vcard":     "The file holds no valid contact",
	"pim.page_intro":         "The contacts and appointments you imported. Mail programs will reach them over CardDAV and CalDAV in a later version.",
	"pim.import_link":        "Import a file",
	"pim.upcoming":           "Coming %d days",
	"pim.no_events":          "No event or task in the coming days.",
	"pim.start":              "Start",
	"pim.end":                "End",
	"pim.summary":            "What",
	"pim.calendar":           "Calendar",
	"pim.recurring":          "recurring",
	"pim.task":               "task",
	"pim.contacts":           "Contacts",
	"pim.search":             "Search",
	"pim.search_ph":          "name, e-mail, phone or organisation",
	"pim.no_contacts":        "No contact yet: import a .vcf file from your self-service page.",
	"pim.no_match":           "No contact matches.",
	"pim.name":               "Name",
	"pim.emails":             "E-mail",
	"pim.phones":             "Phone",
	"pim.org":                "Organisation",
	"pim.book":               "Address book",
	"kind.invalid-icalendar": "The file holds no valid event or task",
}

var pimIT = map[string]string{
	"pim.title":              "Contatti e calendario",
	"pim.counts":             "%s contatti · %s eventi e attività",
	"pim.intro":              "Porta qui contatti e appuntamenti da un altro servizio: esportali in un file .vcf (contatti) o .ics (calendario) e importalo qui. Importare di nuovo lo stesso file aggiorna ciò che è cambiato e non duplica nulla.",
	"pim.file":               "File (.vcf o .ics)",
	"pim.file_hint":          "vCard 2.1, 3.0 o 4.0, come li esportano Google, Apple e Outlook; iCalendar con eventi e attività. Al massimo 32 MB.",
	"pim.import":             "Importa",
	"pim.result":             "Importati in %s",
	"pim.n_imported":         "nuovi",
	"pim.n_updated":          "aggiornati",
	"pim.n_skipped":          "invariati",
	"pim.n_errors":           "non importati",
	"pim.error":              "Non importati, e perché",
	"pim.no_file":            "Scegli il file da importare.",
	"pim.too_large":          "Il file supera i %d MB.",
	"pim.unknown_file":       "Questo non è un file vCard (.vcf) né iCalendar (.ics).",
	"kind.invalid-vcard":     "Il file non contiene alcun contatto valido",
	"pim.page_intro":         "I contatti e gli appuntamenti che hai importato. I programmi di posta li raggiungeranno via CardDAV e CalDAV in una versione successiva.",
	"pim.import_link":        "Importa un file",
	"pim.upcoming":           "Prossimi %d giorni",
	"pim.no_events":          "Nessun evento o attività nei prossimi giorni.",
	"pim.start":              "Inizio",
	"pim.end":                "Fine",
	"pim.summary":            "Cosa",
	"pim.calendar":           "Calendario",
	"pim.recurring":          "ricorrente",
	"pim.task":               "attività",
	"pim.contacts":           "Contatti",
	"pim.search":             "Cerca",
	"pim.search_ph":          "nome, e-mail, telefono o organizzazione",
	"pim.no_contacts":        "Ancora nessun contatto: importa un file .vcf dalla pagina del tuo account.",
	"pim.no_match":           "Nessun contatto corrisponde.",
	"pim.name":               "Nome",
	"pim.emails":             "E-mail",
	"pim.phones":             "Telefono",
	"pim.org":                "Organizzazione",
	"pim.book":               "Rubrica",
	"kind.invalid-icalendar": "Il file non contiene alcun evento o attività valido",
}
