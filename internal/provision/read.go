package provision

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
)

// Sheet is a spreadsheet as read: which columns its header has, and its non-empty rows.
type Sheet struct {
	Format Format
	// Has tells which columns the header names; a column the file does not have is left alone
	// on existing accounts.
	Has [numColumns]bool
	// Letter is each present column's letter ("A", "B", ...).
	Letter [numColumns]string
	Rows   []Row
	// Notes say how the file was read (encoding, delimiter).
	Notes []string
}

// Row is one account row.
type Row struct {
	Num      int // the row's number as the spreadsheet program shows it (the header is 1)
	Cells    [numColumns]string
	Problems []Problem // cells that could not be read (formulas, dates, ...)
}

// Columns lists the keys of the columns the file has, in the template's order.
func (sh *Sheet) Columns() []string {
	var out []string
	for c := range numColumns {
		if sh.Has[c] {
			out = append(out, c.Key())
		}
	}
	return out
}

// Read reads a spreadsheet, XLSX or CSV, told apart by its content. Every refusal of the
// whole file is a *directory.Error of kind "invalid-spreadsheet" saying what is wrong and where;
// problems of single cells are kept on their rows.
func Read(data []byte) (*Sheet, error) {
	b := &builder{sh: &Sheet{}}
	if err := read(data, b); err != nil {
		return nil, err
	}
	return b.sh, nil
}

// Table is a spreadsheet read with the same safety as the accounts template (size and row
// limits, formulas, dates and encodings refused with row and column) but with columns of the
// caller's choosing: its header row as written and its non-empty rows.
type Table struct {
	Format Format
	Header []string
	Rows   []TableRow
	Notes  []string
}

// TableRow is one data row of a Table.
type TableRow struct {
	Num      int // the row's number as the spreadsheet program shows it (the header is 1)
	Cells    []string
	Problems []Problem
}

// ReadTable reads a spreadsheet, XLSX or CSV, whose first non-empty row is a header; the
// caller maps the header to its columns.
func ReadTable(data []byte) (*Table, error) {
	b := &builder{sh: &Sheet{}, table: &Table{}}
	if err := read(data, b); err != nil {
		return nil, err
	}
	b.table.Format, b.table.Notes = b.sh.Format, b.sh.Notes
	return b.table, nil
}

func read(data []byte, b *builder) error {
	if len(data) > MaxFileBytes {
		return fileError("the file is %d MB; at most %d MB are accepted: split it into several files", len(data)>>20, MaxFileBytes>>20)
	}
	if len(bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))) == 0 {
		return fileError("the file is empty")
	}
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return readXLSX(data, b)
	case bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
		return fileError("this is an Excel 97-2003 workbook (.xls) or an encrypted file: save it as an Excel workbook (.xlsx) or as CSV UTF-8, without a password")
	case bytes.HasPrefix(data, []byte("%PDF")):
		return fileError("this is a PDF document, not a spreadsheet: send the XLSX or CSV file")
	case bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")):
		return readCSV(decodeUTF16(data), "read as UTF-16 (Unicode text)", b)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return fileError("this is not a spreadsheet: the file is binary, neither an XLSX workbook nor CSV text")
	}
	return readCSV(data, "", b)
}

// decodeUTF16 converts UTF-16 with a byte-order mark to UTF-8.
func decodeUTF16(data []byte) []byte {
	le := data[0] == 0xff
	data = data[2:]
	u := make([]uint16, len(data)/2)
	for i := range u {
		if le {
			u[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
		} else {
			u[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		}
	}
	return []byte(string(utf16.Decode(u)))
}

// headerNames maps a normalised header to its column.
var headerNames = func() map[string]Column {
	m := map[string]Column{}
	for c := range numColumns {
		ci := columnInfo[c]
		for _, n := range append([]string{ci.key, ci.en, ci.it}, ci.other...) {
			m[normHeader(n)] = c
		}
	}
	return m
}()

// normHeader folds a header: lower case, without a parenthesised hint, letters and digits only.
func normHeader(s string) string {
	if i := strings.IndexAny(s, "(["); i > 0 {
		s = s[:i]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// knownHeaders lists the template's headers for messages.
func knownHeaders() string {
	var names []string
	for c := range numColumns {
		names = append(names, columnInfo[c].en)
	}
	return strings.Join(names, ", ")
}

// colLetter is the spreadsheet letter of a 0-based column index.
func colLetter(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}

// cell is one cell as read, with what makes it unusable.
type cell struct {
	val     string
	problem string
}

// builder turns rows of cells into a Sheet: the header first, then the data rows.
type builder struct {
	sh       *Sheet
	table    *Table // set: rows are kept as read, for ReadTable
	header   bool
	colOf    []Column // by file column; -1: no header
	dataRows int
}

// cleanCell trims a value and finds what makes it unusable.
func cleanCell(v string) (string, string) {
	v = strings.TrimFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' || r == '\u200b' })
	// A leading apostrophe protects a value from spreadsheet formulas (posta's exports write
	// one before =, +, - and @).
	if len(v) > 1 && v[0] == '\'' && strings.ContainsRune("=+-@", rune(v[1])) {
		v = v[1:]
	}
	for _, r := range v {
		switch {
		case r == utf8.RuneError:
			return v, "contains a character that is not valid text (is the file really UTF-8?)"
		case r == '\n' || r == '\r' || r == '\t':
		case unicode.IsControl(r):
			return v, fmt.Sprintf("contains the control character U+%04X", r)
		}
	}
	return v, ""
}

// add takes one row of the file (num is its row number).
func (b *builder) add(num int, cells []cell) error {
	empty := true
	for i := range cells {
		cells[i].val, _ = cleanCell(cells[i].val)
		if cells[i].val != "" || cells[i].problem != "" {
			empty = false
		}
	}
	if empty {
		return nil
	}
	if b.table != nil {
		return b.addTableRow(num, cells)
	}
	if !b.header {
		return b.addHeader(num, cells)
	}
	b.dataRows++
	if b.dataRows > MaxRows {
		return nil // counted, not kept
	}
	row := Row{Num: num}
	for i, c := range cells {
		if c.val == "" && c.problem == "" {
			continue
		}
		ref := colLetter(i) + strconv.Itoa(num)
		if i >= len(b.colOf) || b.colOf[i] < 0 {
			row.Problems = append(row.Problems, Problem{Row: num, Cell: ref, Column: colLetter(i), Kind: "invalid-spreadsheet",
				Reason: fmt.Sprintf("holds %q but column %s has no header", clip(c.val), colLetter(i))})
			continue
		}
		col := b.colOf[i]
		v, bad := cleanCell(c.val)
		if c.problem != "" {
			bad = c.problem
		}
		if bad == "" && col != ColAliases && col != ColLists && utf8.RuneCountInString(v) > maxCellChars {
			bad = fmt.Sprintf("has %d characters; at most %d", utf8.RuneCountInString(v), maxCellChars)
		}
		if bad != "" {
			row.Problems = append(row.Problems, Problem{Row: num, Cell: ref, Column: col.Key(), Kind: "invalid-spreadsheet", Reason: bad})
			continue
		}
		row.Cells[col] = v
	}
	b.sh.Rows = append(b.sh.Rows, row)
	return nil
}

func (b *builder) addHeader(num int, cells []cell) error {
	b.header = true
	b.colOf = make([]Column, len(cells))
	for i, c := range cells {
		b.colOf[i] = -1
		if c.problem != "" {
			return fileError("the header (row %d) must be plain text: cell %s%d %s", num, colLetter(i), num, c.problem)
		}
		if c.val == "" {
			continue
		}
		if strings.Contains(c.val, "@") {
			return fileError("row %d must be the header (%s) but cell %s%d holds %q, which looks like data", num, knownHeaders(), colLetter(i), num, clip(c.val))
		}
		col, ok := headerNames[normHeader(c.val)]
		if !ok {
			return fileError("column %s of the header (row %d) is %q, which is not a column of the template; the columns are: %s", colLetter(i), num, clip(c.val), knownHeaders())
		}
		if b.sh.Has[col] {
			return fileError("the header (row %d) names %q twice: columns %s and %s", num, col.Header("en"), b.sh.Letter[col], colLetter(i))
		}
		b.colOf[i] = col
		b.sh.Has[col] = true
		b.sh.Letter[col] = colLetter(i)
	}
	if !b.sh.Has[ColAddress] {
		return fileError("the header (row %d) has no %q column; the columns are: %s", num, "address", knownHeaders())
	}
	return nil
}

// addTableRow keeps a row of a Table: the first is the header.
func (b *builder) addTableRow(num int, cells []cell) error {
	if !b.header {
		b.header = true
		for i, c := range cells {
			if c.problem != "" {
				return fileError("the header (row %d) must be plain text: cell %s%d %s", num, colLetter(i), num, c.problem)
			}
			b.table.Header = append(b.table.Header, c.val)
		}
		return nil
	}
	b.dataRows++
	if b.dataRows > MaxRows {
		return nil
	}
	row := TableRow{Num: num, Cells: make([]string, len(cells))}
	for i, c := range cells {
		v, bad := cleanCell(c.val)
		if c.problem != "" {
			bad = c.problem
		}
		if bad == "" && utf8.RuneCountInString(v) > maxCellChars {
			bad = fmt.Sprintf("has %d characters; at most %d", utf8.RuneCountInString(v), maxCellChars)
		}
		if bad != "" {
			row.Problems = append(row.Problems, Problem{Row: num, Cell: colLetter(i) + strconv.Itoa(num), Column: colLetter(i), Kind: "invalid-spreadsheet", Reason: bad})
			continue
		}
		row.Cells[i] = v
	}
	b.table.Rows = append(b.table.Rows, row)
	return nil
}

func (b *builder) finish() error {
	what := "accounts"
	if b.table != nil {
		what = "rows"
	}
	switch {
	case !b.header:
		return fileError("the file is empty")
	case b.dataRows == 0:
		return fileError("the file has a header but no %s", what)
	case b.dataRows > MaxRows:
		return fileError("the file has %d %s; at most %d are accepted in one file: split it into several files", b.dataRows, what, MaxRows)
	}
	return nil
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}

// readCSV reads CSV text: UTF-8 (a byte-order mark is tolerated) or, when the file is not
// UTF-8 at all, Windows-1252 (what Excel on Windows writes); a file that mixes the two is
// refused. The delimiter is "," or ";" (Italian Excel) or a tab, taken from a "sep=" line or
// guessed from the header.
func readCSV(data []byte, note string, b *builder) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	b.sh.Format = CSV
	if note != "" {
		b.sh.Notes = append(b.sh.Notes, note)
	}
	if !utf8.Valid(data) {
		line, utf8Line := 0, 0
		for i, ln := range bytes.Split(data, []byte("\n")) {
			if !utf8.Valid(ln) {
				if line == 0 {
					line = i + 1
				}
			} else if utf8Line == 0 && hasMultibyte(ln) {
				utf8Line = i + 1
			}
		}
		if utf8Line != 0 {
			return fileError("the file mixes text encodings: line %d is UTF-8 but line %d is not; save it again as \"CSV UTF-8\"", utf8Line, line)
		}
		conv, err := charmap.Windows1252.NewDecoder().Bytes(data)
		if err != nil {
			return fileError("line %d is not UTF-8 text; save the file as \"CSV UTF-8\"", line)
		}
		data = conv
		b.sh.Notes = append(b.sh.Notes, "read as Windows-1252 (not UTF-8): save as \"CSV UTF-8\" to avoid the guess")
	}
	sep := ','
	if first, rest, ok := bytes.Cut(data, []byte("\n")); ok || len(first) > 0 {
		f := strings.ToLower(strings.TrimSpace(string(first)))
		if strings.HasPrefix(f, "sep=") && len(f) == 5 {
			sep = rune(f[4])
			data = rest
		} else {
			sep = guessDelimiter(string(first))
		}
	}
	if sep != ',' {
		b.sh.Notes = append(b.sh.Notes, fmt.Sprintf("delimiter %q", sep))
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = sep
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	// Row numbers are those a spreadsheet program shows: one per record, and one per blank
	// line (which the CSV reader skips).
	num, lastLine := 0, 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return fileError("the CSV cannot be read at line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
			}
			return fileError("the CSV cannot be read: %v", err)
		}
		start, _ := r.FieldPos(0)
		num += 1 + max(0, start-lastLine-1)
		end, _ := r.FieldPos(len(rec) - 1)
		lastLine = end + strings.Count(rec[len(rec)-1], "\n")
		cells := make([]cell, len(rec))
		for i, v := range rec {
			cells[i] = cell{val: v}
		}
		if err := b.add(num, cells); err != nil {
			return err
		}
	}
	return b.finish()
}

func hasMultibyte(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// guessDelimiter picks the most frequent of ";", "," and tab outside quotes in the header.
func guessDelimiter(line string) rune {
	counts := map[rune]int{}
	quoted := false
	for _, r := range line {
		switch {
		case r == '"':
			quoted = !quoted
		case !quoted && (r == ';' || r == ',' || r == '\t'):
			counts[r]++
		}
	}
	best := ','
	for _, r := range []rune{';', '\t'} {
		if counts[r] > counts[best] {
			best = r
		}
	}
	return best
}

// maxSheetColumns bounds the columns of the accounts sheet that may hold values: the template
// has 9; a value far to the right is refused before the sheet is read further.
const maxSheetColumns = 64

// readXLSX reads the first worksheet of a workbook (or the one named "Accounts"/"Account").
// Cells must hold plain values: a formula, a date, a true/false value or an error value is a
// problem of its row; a number is taken as its digits, except as a password.
func readXLSX(data []byte, b *builder) error {
	// The library spills large parts and the shared strings to temporary files, and leaves
	// some behind when a damaged workbook makes it fail half-way (found by fuzzing): they go
	// to a directory of this read's own, removed whole at the end.
	tmp, err := os.MkdirTemp("", "posta-xlsx-")
	if err != nil {
		return fmt.Errorf("provision: reading a workbook: %w", err)
	}
	defer os.RemoveAll(tmp)
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: 128 << 20, UnzipXMLSizeLimit: 16 << 20, TmpDir: tmp})
	if err != nil {
		return fileError("this is not an XLSX workbook that can be read (%v): save it from the spreadsheet program as .xlsx or as CSV UTF-8", err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return fileError("the workbook has no worksheet")
	}
	sheet := sheets[0]
	for _, s := range sheets {
		if n := normHeader(s); n == "accounts" || n == "account" {
			sheet = s
			break
		}
	}
	// What the values alone do not tell (formulas, dates, types) comes from a first pass over
	// the worksheet's XML, which also refuses values far outside the template's columns
	// before anything is expanded in memory.
	meta, err := scanSheet(data, sheet)
	if err != nil {
		return err
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		return fileError("worksheet %q cannot be read: %v", sheet, err)
	}
	defer rows.Close()
	b.sh.Format = XLSX
	if len(sheets) > 1 {
		b.sh.Notes = append(b.sh.Notes, fmt.Sprintf("read worksheet %q", sheet))
	}
	dateStyle := map[int]bool{}
	isDate := func(style int) bool {
		d, ok := dateStyle[style]
		if !ok {
			if st, err := f.GetStyle(style); err == nil {
				d = dateFormat(st.NumFmt, st.CustomNumFmt)
			}
			dateStyle[style] = d
		}
		return d
	}
	for num := 1; rows.Next(); num++ {
		if b.dataRows > MaxRows {
			// Past the limit: only count the rows that hold something.
			if meta.rows[num] {
				b.dataRows++
			}
			continue
		}
		vals, err := rows.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return fileError("row %d of worksheet %q cannot be read: %v", num, sheet, err)
		}
		cells := make([]cell, len(vals))
		for i, v := range vals {
			cells[i].val = v
			m, ok := meta.cells[[2]int{num, i + 1}]
			if !ok {
				continue
			}
			switch {
			case m.formula:
				cells[i].problem = fmt.Sprintf("holds a formula (=%s): type the value itself, or copy and paste it as values", clip(m.text))
			case m.typ == "d":
				cells[i].problem = "holds a date, not text"
			case m.typ == "b":
				cells[i].problem = "holds a true/false value, not text"
			case m.typ == "e":
				cells[i].problem = fmt.Sprintf("holds the error value %s", m.text)
			case m.style > 0 && isDate(m.style):
				cells[i].problem = "holds a date, not text"
			case b.header && i < len(b.colOf) && b.colOf[i] == ColPassword:
				cells[i].problem = "holds a number: format the password column as text so that the spreadsheet keeps the password exactly"
			}
		}
		if err := b.add(num, cells); err != nil {
			return err
		}
	}
	if err := rows.Error(); err != nil {
		return fileError("worksheet %q cannot be read: %v", sheet, err)
	}
	return b.finish()
}

// cellMeta is what the XML says about a cell that is not plain text.
type cellMeta struct {
	formula bool
	text    string // the formula, or the value of an error cell
	typ     string // the cell's t attribute: "n" (or empty: a number), "b", "d", "e"
	style   int
}

// sheetMeta is the first pass over a worksheet: the cells that are not plain text, and the
// rows that hold anything.
type sheetMeta struct {
	cells map[[2]int]cellMeta // by (row, column), both from 1
	rows  map[int]bool
}

// scanSheet streams the worksheet's XML once, in constant memory per cell.
func scanSheet(data []byte, sheet string) (*sheetMeta, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fileError("this is not an XLSX workbook that can be read (%v)", err)
	}
	part := func(name string) (*zip.File, bool) {
		name = strings.TrimPrefix(name, "/")
		for _, zf := range zr.File {
			if strings.EqualFold(zf.Name, name) {
				return zf, true
			}
		}
		return nil, false
	}
	decode := func(name string, v any) error {
		zf, ok := part(name)
		if !ok {
			return fmt.Errorf("%s is missing", name)
		}
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return xml.NewDecoder(io.LimitReader(rc, 16<<20)).Decode(v)
	}
	var wb struct {
		Sheets []struct {
			Name string `xml:"name,attr"`
			ID   string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	var rels struct {
		Rels []struct {
			ID     string `xml:"Id,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	if err := decode("xl/workbook.xml", &wb); err != nil {
		return nil, fileError("the workbook cannot be read: %v", err)
	}
	if err := decode("xl/_rels/workbook.xml.rels", &rels); err != nil {
		return nil, fileError("the workbook cannot be read: %v", err)
	}
	path := ""
	for _, s := range wb.Sheets {
		if s.Name != sheet {
			continue
		}
		for _, r := range rels.Rels {
			if r.ID == s.ID {
				path = r.Target
				if !strings.HasPrefix(path, "/") {
					path = "xl/" + path
				}
			}
		}
	}
	zf, ok := part(path)
	if !ok {
		return nil, fileError("worksheet %q is missing from the workbook", sheet)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fileError("worksheet %q cannot be read: %v", sheet, err)
	}
	defer rc.Close()
	m := &sheetMeta{cells: map[[2]int]cellMeta{}, rows: map[int]bool{}}
	dec := xml.NewDecoder(io.LimitReader(rc, 512<<20))
	rowNum := 0
	var cur cellMeta
	var ref string
	var col, inCell, hasValue = 0, false, false
	var text *string
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fileError("worksheet %q cannot be read: %v", sheet, err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			switch el.Name.Local {
			case "row":
				rowNum++
				if r := attr(el, "r"); r != "" {
					if n, err := strconv.Atoi(r); err == nil && n > 0 {
						rowNum = n
					}
				}
				col = 0
			case "c":
				inCell, hasValue, cur = true, false, cellMeta{}
				col++
				ref = attr(el, "r")
				if ref != "" {
					if c, r, err := excelize.CellNameToCoordinates(ref); err == nil {
						col = c
						if r > 0 {
							rowNum = r
						}
					}
				}
				cur.typ = attr(el, "t")
				cur.style, _ = strconv.Atoi(attr(el, "s"))
			case "f":
				if inCell {
					cur.formula, hasValue = true, true
					text = &cur.text
				}
			case "v":
				if inCell && !cur.formula {
					text = &cur.text
				}
			case "is":
				hasValue = true
			}
		case xml.CharData:
			if text != nil && len(*text) < 200 {
				*text += string(el)
			}
			if inCell && len(bytes.TrimSpace(el)) > 0 {
				hasValue = true
			}
		case xml.EndElement:
			switch el.Name.Local {
			case "f", "v":
				text = nil
			case "c":
				inCell = false
				if !hasValue {
					continue
				}
				if col > maxSheetColumns {
					if ref == "" {
						ref = colLetter(col-1) + strconv.Itoa(rowNum)
					}
					return nil, fileError("cell %s holds a value, but the accounts sheet has only the template's columns: delete the columns to the right of the last one", ref)
				}
				m.rows[rowNum] = true
				switch cur.typ {
				case "s", "str", "inlineStr":
					if !cur.formula {
						continue
					}
				case "", "n":
					if !cur.formula && cur.style == 0 {
						cur.typ = "n"
					}
				}
				m.cells[[2]int{rowNum, col}] = cur
			}
		}
	}
	return m, nil
}

func attr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// dateFormat reports whether a number format shows dates or times.
func dateFormat(id int, custom *string) bool {
	switch {
	case id >= 14 && id <= 22, id >= 27 && id <= 36, id >= 45 && id <= 47, id >= 50 && id <= 58, id >= 71 && id <= 81:
		return true
	}
	if custom == nil {
		return false
	}
	code := *custom
	// Drop quoted text, escaped characters and bracketed parts other than elapsed time.
	var b strings.Builder
	quoted := false
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\\':
			i++
		case c == '[':
			end := strings.IndexByte(code[i:], ']')
			if end < 0 {
				i = len(code)
				break
			}
			inner := strings.ToLower(code[i+1 : i+end])
			if strings.Trim(inner, "hms") == "" {
				b.WriteString(inner)
			}
			i += end
		default:
			b.WriteByte(c)
		}
	}
	s := strings.ToLower(b.String())
	if s == "general" || s == "@" {
		return false
	}
	return strings.ContainsAny(s, "ymdhs")
}
