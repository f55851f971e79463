package billing

import (
	"io"

	"github.com/xuri/excelize/v2"
)

// WriteUsageXLSX writes a report as an Excel workbook with the columns of the CSV. Amounts are
// text cells holding the exact decimal (a spreadsheet number is a binary float).
func WriteUsageXLSX(w io.Writer, u *Usage) error {
	h, rows := usageTable(u)
	return writeXLSX(w, "Usage", h, rows)
}

// WriteLedgerXLSX writes movements as an Excel workbook.
func WriteLedgerXLSX(w io.Writer, ms []Movement) error {
	h, rows := ledgerTable(ms)
	return writeXLSX(w, "Ledger", h, rows)
}

func writeXLSX(w io.Writer, sheet string, header []string, rows [][]any) error {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49, Alignment: &excelize.Alignment{Horizontal: "right"}})
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	hdr := make([]any, len(header))
	for i, v := range header {
		hdr[i] = excelize.Cell{StyleID: bold, Value: v}
	}
	if err := sw.SetRow("A1", hdr); err != nil {
		return err
	}
	for n, r := range rows {
		cells := make([]any, len(r))
		for i, v := range r {
			switch x := v.(type) {
			case MilliPoints:
				cells[i] = excelize.Cell{StyleID: text, Value: x.String()}
			default:
				cells[i] = x
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, n+2)
		if err := sw.SetRow(cell, cells); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}
