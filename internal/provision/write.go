package provision

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/postamail/posta/internal/directory"
)

// table is one worksheet to write.
type table struct {
	name   string
	header []string
	rows   [][]string
	widths []float64
	// text formats every column as text, so that what people type stays as typed
	// (passwords made of digits, leading zeros).
	text bool
	// cosList names the column holding a class of service, offered as a drop-down from the
	// list in the second sheet (sheet!range); -1: none.
	cosCol  int
	cosList string
	// statusCol is the column of the status drop-down; -1: none.
	statusCol int
}

// sheetNames are the worksheets' names per language.
var sheetNames = map[string][2]string{
	"en": {"Accounts", "Domains and COS"},
	"it": {"Account", "Domini e COS"},
}

func names(lang string) [2]string {
	if n, ok := sheetNames[lang]; ok {
		return n
	}
	return sheetNames["en"]
}

// writeXLSX writes the tables as the worksheets of a workbook, the first one active.
func writeXLSX(tables []table) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		NumFmt: 49})
	if err != nil {
		return nil, err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, err
	}
	for i, t := range tables {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", t.name); err != nil {
				return nil, err
			}
		} else if _, err := f.NewSheet(t.name); err != nil {
			return nil, err
		}
		sw, err := f.NewStreamWriter(t.name)
		if err != nil {
			return nil, err
		}
		for c, w := range t.widths {
			if err := sw.SetColWidth(c+1, c+1, w); err != nil {
				return nil, err
			}
		}
		if t.text {
			if err := sw.SetColStyle(1, len(t.header), text); err != nil {
				return nil, err
			}
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return nil, err
		}
		hdr := make([]any, len(t.header))
		for c, h := range t.header {
			hdr[c] = excelize.Cell{StyleID: bold, Value: h}
		}
		if err := sw.SetRow("A1", hdr); err != nil {
			return nil, err
		}
		for r, row := range t.rows {
			vals := make([]any, len(row))
			for c, v := range row {
				if t.text {
					vals[c] = excelize.Cell{StyleID: text, Value: v}
				} else {
					vals[c] = v
				}
			}
			if err := sw.SetRow("A"+strconv.Itoa(r+2), vals); err != nil {
				return nil, err
			}
		}
		if err := sw.Flush(); err != nil {
			return nil, err
		}
		last := MaxRows + 1
		if t.cosCol >= 0 && t.cosList != "" {
			dv := excelize.NewDataValidation(true)
			col := colLetter(t.cosCol)
			dv.Sqref = fmt.Sprintf("%s2:%s%d", col, col, last)
			dv.SetSqrefDropList(t.cosList)
			if err := f.AddDataValidation(t.name, dv); err != nil {
				return nil, err
			}
		}
		if t.statusCol >= 0 {
			dv := excelize.NewDataValidation(true)
			col := colLetter(t.statusCol)
			dv.Sqref = fmt.Sprintf("%s2:%s%d", col, col, last)
			if err := dv.SetDropList([]string{directory.StatusActive, directory.StatusLocked, directory.StatusClosed}); err != nil {
				return nil, err
			}
			if err := f.AddDataValidation(t.name, dv); err != nil {
				return nil, err
			}
		}
	}
	f.SetActiveSheet(0)
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeCSV writes one table as CSV in UTF-8 with a byte-order mark (so that Excel reads the
// accents right), separated by ";" for Italian (as Italian Excel expects) and "," otherwise.
// A value that a spreadsheet would take for a formula gets a leading apostrophe, which Read
// removes again.
func writeCSV(t table, lang string) []byte {
	var b bytes.Buffer
	b.WriteString("\ufeff")
	w := csv.NewWriter(&b)
	if lang == "it" {
		w.Comma = ';'
	}
	w.UseCRLF = true
	w.Write(t.header)
	for _, row := range t.rows {
		out := make([]string, len(row))
		for i, v := range row {
			if v != "" && strings.ContainsRune("=+-@", rune(v[0])) {
				v = "'" + v
			}
			out[i] = v
		}
		w.Write(out)
	}
	w.Flush()
	return b.Bytes()
}

// accountHeader is the header of the accounts sheet in lang.
func accountHeader(lang string) []string {
	h := make([]string, numColumns)
	for c := range numColumns {
		h[c] = c.Header(lang)
	}
	return h
}

var accountWidths = []float64{32, 18, 26, 30, 36, 36, 30, 10, 10}

// infoTable is the second sheet: the tenant's domains and classes of service, and how to fill
// the first sheet.
func infoTable(st *directory.TenantState, lang string) table {
	it := lang == "it"
	h := []string{"domains", "classes of service (COS)", "notes"}
	notes := []string{
		"One row per account. Only the address is required for an existing account; a new one needs a COS.",
		"password: leave empty to have one generated (shown once in the report). Never in the export.",
		"aliases, distribution lists, forwarding: several addresses separated by commas.",
		"A list that does not exist yet is created. Existing accounts get exactly the aliases and lists of their row.",
		"A column left out of the file leaves that detail of existing accounts alone.",
		"status: active, locked or closed. language (it or en): of the welcome message.",
		fmt.Sprintf("At most %d accounts per file; cells must hold plain text (no formulas or dates).", MaxRows),
	}
	if it {
		h = []string{"domini", "classi di servizio (COS)", "note"}
		notes = []string{
			"Una riga per account. Per un account esistente basta l'indirizzo; uno nuovo richiede la COS.",
			"password: lasciare vuota per generarla (mostrata una sola volta nel rapporto). Mai nell'esportazione.",
			"alias, liste di distribuzione, inoltro: più indirizzi separati da virgole.",
			"Una lista che non esiste ancora viene creata. Gli account esistenti avranno esattamente gli alias e le liste della riga.",
			"Una colonna assente dal file lascia invariato quel dato degli account esistenti.",
			"stato: active, locked o closed. lingua (it o en): del messaggio di benvenuto.",
			fmt.Sprintf("Al massimo %d account per file; le celle devono contenere testo semplice (niente formule né date).", MaxRows),
		}
	}
	var domains, cos []string
	for _, d := range st.Domains {
		if d.AliasOf == "" {
			domains = append(domains, d.Name)
		} else if it {
			domains = append(domains, d.Name+" (alias di "+d.AliasOf+", solo per gli alias)")
		} else {
			domains = append(domains, d.Name+" (alias of "+d.AliasOf+", for aliases only)")
		}
	}
	for _, c := range st.AllowedCOS() {
		cos = append(cos, c.Name)
	}
	n := max(len(domains), len(cos), len(notes))
	t := table{name: names(lang)[1], header: h, widths: []float64{34, 34, 110}, cosCol: -1, statusCol: -1}
	for i := range n {
		row := []string{"", "", ""}
		if i < len(domains) {
			row[0] = domains[i]
		}
		if i < len(cos) {
			row[1] = cos[i]
		}
		if i < len(notes) {
			row[2] = notes[i]
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// accountsTable is the first sheet with rows.
func accountsTable(st *directory.TenantState, lang string, rows [][]string) table {
	t := table{name: names(lang)[0], header: accountHeader(lang), rows: rows, widths: accountWidths, text: true,
		cosCol: int(ColCOS), statusCol: int(ColStatus)}
	if n := len(st.AllowedCOS()); n > 0 {
		t.cosList = fmt.Sprintf("'%s'!$B$2:$B$%d", names(lang)[1], n+1)
	}
	return t
}

// Template returns the empty template for the tenant: in XLSX the accounts sheet with its
// header and a second sheet naming the tenant's domains and classes of service; in CSV the
// header only. lang ("it" or "en") chooses the headers' language.
func (s *Service) Template(ctx context.Context, tenant string, f Format, lang string) ([]byte, error) {
	st, err := s.dir.BatchState(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if f == CSV {
		return writeCSV(table{header: accountHeader(lang)}, lang), nil
	}
	return writeXLSX([]table{accountsTable(st, lang, nil), infoTable(st, lang)})
}

// exportRows are the tenant's accounts as rows of the template, by address, without passwords.
func exportRows(st *directory.TenantState) [][]string {
	addrs := make([]string, 0, len(st.Accounts))
	for a := range st.Accounts {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	rows := make([][]string, 0, len(addrs))
	for _, a := range addrs {
		acc := st.Accounts[a]
		row := make([]string, numColumns)
		row[ColAddress] = acc.Address
		row[ColDisplayName] = acc.DisplayName
		row[ColCOS] = acc.COS
		row[ColAliases] = strings.Join(acc.Aliases, ", ")
		row[ColLists] = strings.Join(acc.Lists, ", ")
		row[ColForwarding] = strings.Join(acc.ForwardTo, ", ")
		row[ColStatus] = acc.Status
		rows = append(rows, row)
	}
	return rows
}

// Export returns the tenant's directory in the template's format, without passwords: edited
// and imported again, it changes only what was edited.
func (s *Service) Export(ctx context.Context, tenant string, f Format, lang string) ([]byte, error) {
	st, err := s.dir.BatchState(ctx, tenant)
	if err != nil {
		return nil, err
	}
	rows := exportRows(st)
	if f == CSV {
		return writeCSV(table{header: accountHeader(lang), rows: rows}, lang), nil
	}
	return writeXLSX([]table{accountsTable(st, lang, rows), infoTable(st, lang)})
}

// reportHeader is the report's header.
func reportHeader(lang string) []string {
	if lang == "it" {
		return []string{"riga", "indirizzo", "esito", "modifiche", "errori", "password generata", "benvenuto"}
	}
	return []string{"row", "address", "outcome", "changes", "errors", "generated password", "welcome"}
}

// outcome is what happened to a row, in words.
func (r *RowResult) outcome(res *Result) string {
	switch {
	case r.Action == ActError:
		return "error"
	case r.Action == ActUnchanged:
		return "unchanged"
	case r.Applied && r.Action == ActCreate:
		return "created"
	case r.Applied:
		return "updated"
	case res.DryRun:
		return "would " + string(r.Action)
	}
	return "not applied (" + string(r.Action) + ")"
}

// Report returns the outcome of every row, with the passwords the import generated (the only
// time they are shown): XLSX with a summary sheet, or CSV.
func (res *Result) Report(f Format, lang string) ([]byte, error) {
	var rows [][]string
	for _, r := range res.Rows {
		var probs []string
		for _, p := range r.Problems {
			probs = append(probs, p.String())
		}
		rows = append(rows, []string{strconv.Itoa(r.Row), r.Address, r.outcome(res), strings.Join(r.Changes, "; "),
			strings.Join(probs, "; "), r.Password, r.Welcome})
	}
	t := table{name: "Report", header: reportHeader(lang), rows: rows, widths: []float64{6, 32, 18, 60, 60, 20, 12}, text: true, cosCol: -1, statusCol: -1}
	if lang == "it" {
		t.name = "Rapporto"
	}
	if f == CSV {
		return writeCSV(t, lang), nil
	}
	sum := table{name: "Summary", header: []string{"", ""}, widths: []float64{30, 70}, cosCol: -1, statusCol: -1}
	add := func(k, v string) { sum.rows = append(sum.rows, []string{k, v}) }
	add("tenant", res.Tenant)
	switch {
	case res.DryRun:
		add("mode", "dry run: nothing was written")
	case res.Applied && res.Partial:
		add("mode", "partial: the valid rows were applied")
	case res.Applied:
		add("mode", "applied")
	default:
		add("mode", "refused: nothing was written")
	}
	if res.Refused != "" {
		add("refused", res.Refused)
	}
	add("rows", strconv.Itoa(res.Summary.Rows))
	add("create", strconv.Itoa(res.Summary.Create))
	add("update", strconv.Itoa(res.Summary.Update))
	add("unchanged", strconv.Itoa(res.Summary.Unchanged))
	add("errors", strconv.Itoa(res.Summary.Errors))
	if len(res.ListsCreated) > 0 {
		add("new lists", strings.Join(res.ListsCreated, ", "))
	}
	for _, c := range res.Caps {
		capS := "no cap"
		if c.Cap >= 0 {
			capS = strconv.Itoa(c.Cap)
		}
		add("COS "+c.COS, fmt.Sprintf("in use %d, after %d, cap %s", c.InUse, c.After, capS))
	}
	for _, n := range res.Notes {
		add("note", n)
	}
	return writeXLSX([]table{t, sum})
}
