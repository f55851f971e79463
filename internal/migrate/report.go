package migrate

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// Report is a job's outcome per account: the counters, the pre-flight plan with each folder's
// result, and every message skipped or not copied with the reason.
type Report struct {
	Job   *Job   `json:"job"`
	Plan  *Plan  `json:"plan,omitempty"`
	Items []Item `json:"items"`
	// DurationSeconds is from the first start to the end (or now).
	DurationSeconds float64 `json:"duration_seconds"`
}

// Report returns a job's report.
func (s *Service) Report(ctx context.Context, id int64) (*Report, error) {
	j, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	rep := &Report{Job: j, Items: []Item{}}
	if j.plan != "" {
		rep.Plan = &Plan{}
		if err := json.Unmarshal([]byte(j.plan), rep.Plan); err != nil {
			return nil, err
		}
	}
	if j.StartedAt > 0 {
		end := time.Now().UnixMilli()
		if j.FinishedAt > 0 {
			end = j.FinishedAt
		}
		rep.DurationSeconds = float64(end-j.StartedAt) / 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT folder, uid, outcome, reason, detail, size, subject FROM migration_items WHERE job_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var it Item
		var uid int64
		if err := rows.Scan(&it.Folder, &uid, &it.Outcome, &it.Reason, &it.Detail, &it.Size, &it.Subject); err != nil {
			return nil, err
		}
		it.UID = uint32(uid)
		rep.Items = append(rep.Items, it)
	}
	return rep, rows.Err()
}

// WriteCSV writes the report as CSV: a row per folder (record "folder") with its counts, then
// a row per message skipped or not copied (record "message"), then the total (record "total").
func (rep *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	cw.Write([]string{"record", "account", "folder", "destination", "uid", "messages", "copied", "skipped", "failed", "bytes", "outcome", "reason", "detail", "subject", "duration_seconds"})
	acc := rep.Job.Address
	if rep.Plan != nil {
		for _, f := range rep.Plan.Folders {
			skipped := f.Skipped + f.TooLarge
			reason := f.Skip
			cw.Write([]string{"folder", acc, f.Source, f.Dest, "", i64(f.Messages), i64(f.Copied), i64(skipped), i64(f.Failed), i64(f.CopiedBytes), "", reason, "", "", ""})
		}
	}
	for _, it := range rep.Items {
		cw.Write([]string{"message", acc, it.Folder, "", strconv.FormatUint(uint64(it.UID), 10), "", "", "", "", i64(it.Size), it.Outcome, it.Reason, it.Detail, safeCell(it.Subject), ""})
	}
	j := rep.Job
	cw.Write([]string{"total", acc, "", "", "", i64(j.MsgsTotal), i64(j.Copied), i64(j.Skipped), i64(j.Failed), i64(j.CopiedBytes), j.Status, j.ErrorKind, j.Error, "",
		strconv.FormatFloat(rep.DurationSeconds, 'f', 1, 64)})
	cw.Flush()
	return cw.Error()
}

// safeCell keeps a spreadsheet program from reading a subject as a formula.
func safeCell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
