package provision

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/postamail/posta/internal/directory"
)

// xlsxOf builds a workbook whose first sheet holds rows; a cell value may be a string, a
// number, a bool, a time.Time (a date), or formula("...").
type formula string

func xlsxOf(t testing.TB, rows ...[]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	dateStyle, _ := f.NewStyle(&excelize.Style{NumFmt: 14})
	for r, row := range rows {
		for c, v := range row {
			cell, _ := excelize.CoordinatesToCellName(c+1, r+1)
			switch x := v.(type) {
			case formula:
				if err := f.SetCellFormula("Sheet1", cell, string(x)); err != nil {
					t.Fatal(err)
				}
			case time.Time:
				f.SetCellValue("Sheet1", cell, x)
				f.SetCellStyle("Sheet1", cell, cell, dateStyle)
			default:
				f.SetCellValue("Sheet1", cell, v)
			}
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func row(v ...any) []any { return v }

// fileErr checks that err refuses the whole file with a message containing want.
func fileErr(t *testing.T, err error, want string) {
	t.Helper()
	var de *directory.Error
	if !errors.As(err, &de) || de.Kind != "invalid-spreadsheet" {
		t.Fatalf("want an invalid-spreadsheet refusal containing %q, got %v", want, err)
	}
	if !strings.Contains(de.Msg, want) {
		t.Fatalf("refusal %q does not contain %q", de.Msg, want)
	}
}

func TestReadCSV(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  string
		rows  int
		notes string
		check func(t *testing.T, sh *Sheet)
	}{
		{name: "comma", data: "address,cos\na@x.it,Business Mail 100 MB\n", rows: 1},
		{name: "bom and semicolon (Italian Excel)", data: "\ufeffindirizzo;COS;alias\r\na@x.it;Business Mail 100 MB;\"b@x.it, c@x.it\"\r\n", rows: 1, notes: `delimiter ';'`,
			check: func(t *testing.T, sh *Sheet) {
				if sh.Rows[0].Cells[ColAliases] != "b@x.it, c@x.it" || !sh.Has[ColAliases] || sh.Has[ColPassword] {
					t.Fatalf("%+v", sh)
				}
			}},
		{name: "sep line", data: "sep=;\naddress;display name\na@x.it;Rossi, Mario\n", rows: 1,
			check: func(t *testing.T, sh *Sheet) {
				if sh.Rows[0].Cells[ColDisplayName] != "Rossi, Mario" {
					t.Fatalf("%q", sh.Rows[0].Cells[ColDisplayName])
				}
			}},
		{name: "tab", data: "address\tcos\na@x.it\tX\n", rows: 1},
		{name: "windows-1252 converted", data: "address;display name\na@x.it;Nicol\xf2 Ces\xe0\n", rows: 1, notes: "Windows-1252",
			check: func(t *testing.T, sh *Sheet) {
				if sh.Rows[0].Cells[ColDisplayName] != "Nicolò Cesà" {
					t.Fatalf("%q", sh.Rows[0].Cells[ColDisplayName])
				}
			}},
		{name: "utf-16", data: string(utf16le("address\tdisplay name\r\na@x.it\tNicolò\r\n")), rows: 1, notes: "UTF-16",
			check: func(t *testing.T, sh *Sheet) {
				if sh.Rows[0].Cells[ColDisplayName] != "Nicolò" {
					t.Fatalf("%q", sh.Rows[0].Cells[ColDisplayName])
				}
			}},
		{name: "headers with hints and case", data: "E-mail,Password (empty = generate),Nome visualizzato,Classe di servizio\na@x.it,,A,X\n", rows: 1},
		{name: "empty rows skipped, numbers kept", data: "address,cos\n\n,\na@x.it,X\n,\n", rows: 1,
			check: func(t *testing.T, sh *Sheet) {
				if sh.Rows[0].Num != 4 {
					t.Fatalf("row number %d, want 4", sh.Rows[0].Num)
				}
			}},
		{name: "protected formula text", data: "address,display name\na@x.it,'=Mario\n", rows: 1,
			check: func(t *testing.T, sh *Sheet) {
				if sh.Rows[0].Cells[ColDisplayName] != "=Mario" {
					t.Fatalf("%q", sh.Rows[0].Cells[ColDisplayName])
				}
			}},
		{name: "value without header", data: "address,,cos\na@x.it,oops,X\n", rows: 1,
			check: func(t *testing.T, sh *Sheet) {
				if len(sh.Rows[0].Problems) != 1 || !strings.Contains(sh.Rows[0].Problems[0].Reason, "no header") || sh.Rows[0].Problems[0].Cell != "B2" {
					t.Fatalf("%+v", sh.Rows[0].Problems)
				}
			}},
		{name: "control character", data: "address,display name\na@x.it,A\x01B\n", rows: 1,
			check: func(t *testing.T, sh *Sheet) {
				if len(sh.Rows[0].Problems) != 1 || !strings.Contains(sh.Rows[0].Problems[0].Reason, "control") {
					t.Fatalf("%+v", sh.Rows[0].Problems)
				}
			}},
		{name: "too long cell", data: "address,display name\na@x.it," + strings.Repeat("x", maxCellChars+1) + "\n", rows: 1,
			check: func(t *testing.T, sh *Sheet) {
				if len(sh.Rows[0].Problems) != 1 || !strings.Contains(sh.Rows[0].Problems[0].Reason, "characters") {
					t.Fatalf("%+v", sh.Rows[0].Problems)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, err := Read([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if sh.Format != CSV || len(sh.Rows) != tc.rows {
				t.Fatalf("format %s, %d rows", sh.Format, len(sh.Rows))
			}
			if tc.notes != "" && !strings.Contains(strings.Join(sh.Notes, "|"), tc.notes) {
				t.Fatalf("notes %q lack %q", sh.Notes, tc.notes)
			}
			if tc.check != nil {
				tc.check(t, sh)
			}
		})
	}
}

func utf16le(s string) []byte {
	b := []byte{0xff, 0xfe}
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// TestReadRefusesBadFiles: each bad file gets a precise refusal, never a crash.
func TestReadRefusesBadFiles(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("address,cos\n")
		for i := range n {
			fmt.Fprintf(&b, "u%d@x.it,X\n", i)
		}
		return b.String()
	}
	var notXLSX bytes.Buffer
	zw := zip.NewWriter(&notXLSX)
	w, _ := zw.Create("hello.txt")
	w.Write([]byte("hello"))
	zw.Close()
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "empty"},
		{"blank", "\ufeff \r\n \n", "empty"},
		{"header only", "address,cos\n", "no accounts"},
		{"wrong header", "mail box,cos\na@x.it,X\n", `column A of the header (row 1) is "mail box"`},
		{"no address column", "cos,display name\nX,Y\n", `no "address" column`},
		{"duplicate column", "address,cos,e-mail\na@x.it,X,b@x.it\n", `names "address" twice: columns A and C`},
		{"header missing", "a@x.it,Business Mail 100 MB\n", "looks like data"},
		{"over the limit", many(MaxRows + 1), fmt.Sprintf("the file has %d accounts; at most %d", MaxRows+1, MaxRows)},
		{"100 000 rows", many(100000), "the file has 100000 accounts"},
		{"mixed encodings", "address,display name\na@x.it,Nicolò\nb@x.it,Nicol\xf2\n", "mixes text encodings: line 2 is UTF-8 but line 3 is not"},
		{"bad quotes", "address,display name\na@x.it,\"Mario\nb@x.it,x\"y\"\n", "cannot be read at line"},
		{"xls", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "Excel 97-2003"},
		{"pdf", "%PDF-1.7 ...", "PDF"},
		{"binary", "\x00\x01\x02\x03", "binary"},
		{"zip that is not a workbook", notXLSX.String(), "not an XLSX workbook"},
		{"truncated xlsx", string(xlsxOf(t, row("address"), row("a@x.it"))[:200]), "XLSX"},
		{"too large", strings.Repeat("x", MaxFileBytes+1), "MB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh, err := Read([]byte(tc.data))
			if err == nil {
				t.Fatalf("read: %d rows, no error", len(sh.Rows))
			}
			fileErr(t, err, tc.want)
		})
	}
}

func TestReadXLSX(t *testing.T) {
	data := xlsxOf(t,
		row("Address", "Password", "Display name", "COS", "Aliases"),
		row("a@x.it", "", "Anna", "Business Mail 100 MB", "b@x.it, c@x.it"),
		row("d@x.it", formula(`"Sec"&"ret-Pass-42"`), "Dario", "X"),
		row("e@x.it", "", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), "X"),
		row("f@x.it", 1234567890, 42, "X", true),
		row(),
		row("g@x.it", "", "", formula("A2")),
	)
	sh, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Format != XLSX || len(sh.Rows) != 5 {
		t.Fatalf("%s %d rows", sh.Format, len(sh.Rows))
	}
	want := []struct {
		num      int
		problems []string // cell: reason fragment
	}{
		{2, nil},
		{3, []string{"B3: formula"}},
		{4, []string{"C4: date"}},
		{5, []string{"B5: number", "E5: true/false"}},
		{7, []string{"D7: formula"}},
	}
	for i, w := range want {
		r := sh.Rows[i]
		if r.Num != w.num || len(r.Problems) != len(w.problems) {
			t.Fatalf("row %d: %+v", w.num, r)
		}
		for j, p := range w.problems {
			cell, frag, _ := strings.Cut(p, ": ")
			if r.Problems[j].Cell != cell || !strings.Contains(r.Problems[j].Reason, frag) {
				t.Fatalf("row %d: %+v, want %s", w.num, r.Problems[j], p)
			}
		}
	}
	if sh.Rows[0].Cells[ColAliases] != "b@x.it, c@x.it" || sh.Rows[3].Cells[ColDisplayName] != "42" {
		t.Fatalf("%+v / %+v", sh.Rows[0].Cells, sh.Rows[3].Cells)
	}
	// A value far to the right is refused before the sheet is expanded in memory; a cell
	// that only has a style there is harmless.
	f0 := excelize.NewFile()
	f0.SetSheetRow("Sheet1", "A1", &[]any{"address", "cos"})
	for r := 2; r < 2000; r++ {
		f0.SetSheetRow("Sheet1", fmt.Sprintf("A%d", r), &[]any{fmt.Sprintf("u%d@x.it", r), "X"})
	}
	st, _ := f0.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	f0.SetCellStyle("Sheet1", "XFD2", "XFD2", st)
	buf0, _ := f0.WriteToBuffer()
	if sh, err := Read(buf0.Bytes()); err != nil || len(sh.Rows) != 1998 {
		t.Fatalf("style far right: %v", err)
	}
	f0.SetCellValue("Sheet1", "XFD3", "oops")
	buf0, _ = f0.WriteToBuffer()
	_, err = Read(buf0.Bytes())
	if err == nil || !strings.Contains(err.Error(), "cell XFD3 holds a value") {
		t.Fatalf("value far right: %v", err)
	}
	// Too many rows in a workbook.
	_, err = Read(bigXLSX(t, MaxRows+1))
	fileErr(t, err, fmt.Sprintf("the file has %d accounts; at most %d", MaxRows+1, MaxRows))
	// The sheet named "Accounts" is read even when it is not the first.
	f := excelize.NewFile()
	f.SetCellValue("Sheet1", "A1", "notes")
	f.NewSheet("Accounts")
	f.SetCellValue("Accounts", "A1", "address")
	f.SetCellValue("Accounts", "A2", "z@x.it")
	buf, _ := f.WriteToBuffer()
	sh, err = Read(buf.Bytes())
	if err != nil || len(sh.Rows) != 1 || sh.Rows[0].Cells[ColAddress] != "z@x.it" {
		t.Fatalf("%v %+v", err, sh)
	}
}

func TestDateFormats(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		id     int
		custom *string
		want   bool
	}{
		{0, nil, false}, {14, nil, true}, {22, nil, true}, {49, nil, false}, {2, nil, false},
		{164, s("dd/mm/yyyy"), true}, {164, s("[h]:mm"), true}, {164, s(`0.00 "days"`), false},
		{164, s("#,##0 [$€-410]"), false}, {164, s("General"), false}, {164, s("@"), false},
		{164, s(`\d0`), false},
	} {
		if got := dateFormat(tc.id, tc.custom); got != tc.want {
			t.Errorf("dateFormat(%d, %v) = %v", tc.id, tc.custom, got)
		}
	}
}

// FuzzReadCSV: any bytes give a sheet or a refusal, never a panic; what is read keeps its
// row numbers in order and its cells clean.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"address,cos\na@x.it,X\n",
		"\ufeffindirizzo;COS;alias\r\na@x.it;X;\"b@x.it, c@x.it\"\r\n",
		"sep=;\naddress;display name\na@x.it;\"Rossi; Mario\"\n",
		"address;display name\na@x.it;Nicol\xf2\n",
		"address,,cos\na@x.it,oops,X\n",
		"address\n\"unterminated\n",
		"\xff\xfea\x00d\x00d\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sh, err := Read(data)
		checkSheet(t, sh, err)
	})
}

// FuzzReadXLSX mutates a small workbook.
func FuzzReadXLSX(f *testing.F) {
	f.Add(xlsxOf(f, row("address", "cos"), row("a@x.it", "X")))
	f.Add(xlsxOf(f, row("address", "password", "display name"), row("a@x.it", formula("1+1"), time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC))))
	f.Fuzz(func(t *testing.T, data []byte) {
		sh, err := Read(data)
		checkSheet(t, sh, err)
	})
}

func checkSheet(t *testing.T, sh *Sheet, err error) {
	if err != nil {
		var de *directory.Error
		if !errors.As(err, &de) || de.Kind != "invalid-spreadsheet" || de.Msg == "" {
			t.Fatalf("refusal of an unexpected kind: %v", err)
		}
		return
	}
	if !sh.Has[ColAddress] || len(sh.Rows) == 0 || len(sh.Rows) > MaxRows {
		t.Fatalf("sheet without address column or rows: %+v", sh)
	}
	last := 0
	for _, r := range sh.Rows {
		if r.Num <= last {
			t.Fatalf("row numbers out of order: %d after %d", r.Num, last)
		}
		last = r.Num
		for c, v := range r.Cells {
			if v != strings.TrimSpace(v) {
				t.Fatalf("row %d column %d not trimmed: %q", r.Num, c, v)
			}
		}
	}
}

func TestReadTable(t *testing.T) {
	tab, err := ReadTable(xlsxOf(t,
		row("Source host", "Source user", "Source password", "Destination"),
		row("imap.old.test", "anna", "Pw-1", "anna@rossi.it"),
		row(),
		row("imap.old.test", formula("A2&\"x\""), "Pw-2", "bruno@rossi.it"),
	))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Format != XLSX || len(tab.Header) != 4 || tab.Header[3] != "Destination" || len(tab.Rows) != 2 {
		t.Fatalf("table: %+v", tab)
	}
	if r := tab.Rows[0]; r.Num != 2 || r.Cells[2] != "Pw-1" || len(r.Problems) != 0 {
		t.Errorf("row 2: %+v", r)
	}
	if r := tab.Rows[1]; r.Num != 4 || len(r.Problems) != 1 || r.Problems[0].Cell != "B4" {
		t.Errorf("row 4 (a formula): %+v", r)
	}
	tab, err = ReadTable([]byte("host;user\r\nh;u\r\n"))
	if err != nil || tab.Format != CSV || len(tab.Rows) != 1 || tab.Rows[0].Cells[1] != "u" {
		t.Errorf("CSV table: %+v %v", tab, err)
	}
	if _, err := ReadTable([]byte("host;user\r\n")); err == nil || !strings.Contains(err.Error(), "no rows") {
		t.Errorf("header only: %v", err)
	}
}

// TestReadLeavesNoTemporaryFiles: a damaged workbook (its shared strings part fails its CRC)
// once left the spreadsheet library's temporary file behind on every read.
func TestReadLeavesNoTemporaryFiles(t *testing.T) {
	damaged, err := os.ReadFile("testdata/damaged-shared-strings.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	big := []any{"address", "display name"}
	rows := [][]any{big}
	for i := range 200 {
		rows = append(rows, row(fmt.Sprintf("u%d@x.it", i), strings.Repeat("n", 100)+fmt.Sprint(i)))
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"damaged shared strings", damaged},
		{"good workbook", xlsxOf(t, rows...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			Read(tc.data)
			left, err := os.ReadDir(tmp)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range left {
				t.Errorf("left behind in TMPDIR: %s", e.Name())
			}
		})
	}
}
