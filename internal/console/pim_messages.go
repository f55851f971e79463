package console

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
	"kind.invalid-icalendar": "Il file non contiene alcun evento o attività valido",
}
