package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/postamail/posta/internal/auth"
	"github.com/postamail/posta/internal/directory"
)

// ImportOptions choose what an import does.
type ImportOptions struct {
	// DryRun validates and reports what would change, writing nothing.
	DryRun bool
	// Partial applies the valid rows and reports the others; by default a file with any
	// error is refused as a whole.
	Partial bool
	// Welcome sends the welcome message to every account created.
	Welcome bool
	// Language of welcome messages for rows without one ("it" or "en"; default "it").
	Language string
	// Source names the file in the audit log.
	Source string
}

// Check reads and validates a file without writing anything: the dry run.
func (s *Service) Check(ctx context.Context, tenant string, data []byte) (*Result, error) {
	res, _, err := s.plan(ctx, tenant, data)
	if res != nil {
		res.DryRun = true
	}
	return res, err
}

// plan reads the file and validates it against the tenant's directory as it is now.
func (s *Service) plan(ctx context.Context, tenant string, data []byte) (*Result, *directory.TenantState, error) {
	sh, err := Read(data)
	if err != nil {
		return nil, nil, err
	}
	st, err := s.dir.BatchState(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	res, err := Validate(st, sh, Checks{
		Policy: s.dir.CheckPasswordPolicy,
		PasswordsMatch: func(pw map[string]string) (map[string]bool, error) {
			return s.dir.PasswordsMatch(ctx, tenant, pw)
		},
		Credit: func(from, to int64) error { return s.dir.CreditAllows(ctx, st.Tenant.ID, from, to) },
	})
	return res, st, err
}

// Import reads, validates and (unless o.DryRun) applies a file to the tenant. Every row is
// validated before anything is written. Without o.Partial, a file with any error is refused
// and nothing is written (Result.Refused says why); with it, the valid rows are applied. The
// changes are written in one directory transaction: if the directory refuses an item there (the
// directory changed since the validation), nothing is written, or with o.Partial the item's row
// is set aside and the others applied. Passwords are generated for new accounts without one.
func (s *Service) Import(ctx context.Context, tenant string, data []byte, o ImportOptions) (*Result, error) {
	res, st, err := s.plan(ctx, tenant, data)
	if err != nil {
		return nil, err
	}
	res.DryRun, res.Partial = o.DryRun, o.Partial
	if o.DryRun {
		return res, nil
	}
	if res.Summary.Errors > 0 && !o.Partial {
		res.Refused = fmt.Sprintf("%d of %d rows have errors: nothing was written (correct them, or import with the partial option to apply only the valid rows)",
			res.Summary.Errors, res.Summary.Rows)
		return res, nil
	}
	for _, r := range res.Rows {
		if r.generate {
			// A random password can still break the policy (it may contain the local part).
			local, _, _ := strings.Cut(r.Address, "@")
			for {
				r.Password = auth.GeneratePassword(max(16, r.cos.MinPasswordLen))
				if s.dir.CheckPasswordPolicy(r.Password, r.cos, local) == nil {
					break
				}
			}
			r.batch.Password = r.Password
		}
	}
	source := o.Source
	if source == "" {
		source = "spreadsheet"
	}
	for attempt := 0; ; attempt++ {
		b := &directory.Batch{Tenant: tenant, Source: source}
		listRef := map[string]int{}
		for _, r := range res.Rows {
			if r.batch == nil || r.Action == ActError {
				continue
			}
			b.Accounts = append(b.Accounts, *r.batch)
			for _, l := range r.newLists {
				if _, ok := listRef[l]; !ok {
					listRef[l] = r.Row
					b.Lists = append(b.Lists, directory.BatchList{Ref: r.Row, Address: l})
				}
			}
		}
		if len(b.Accounts) == 0 {
			res.ListsCreated = nil
			res.count()
			return res, nil
		}
		_, err := s.dir.ApplyBatch(ctx, b)
		if err == nil {
			break
		}
		var be *directory.BatchError
		if !errors.As(err, &be) {
			return nil, err
		}
		row := res.row(be.Ref)
		if row == nil || !o.Partial || attempt >= 20 {
			res.Refused = "nothing was written: " + be.Error()
			if row != nil {
				row.fail(be.Err)
			}
			res.count()
			return res, nil
		}
		// Partial: set the refused row aside and apply the others.
		row.fail(be.Err)
	}
	res.Applied = true
	res.ListsCreated = nil
	for _, r := range res.Rows {
		if r.batch != nil && r.Action != ActError {
			r.Applied = true
			res.ListsCreated = appendNew(res.ListsCreated, r.newLists...)
		}
	}
	res.count()
	if o.Welcome {
		s.welcome(ctx, st, res, o.Language)
	}
	return res, nil
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, x := range list {
			if x == it {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

// row returns the result of the row numbered num.
func (res *Result) row(num int) *RowResult {
	for _, r := range res.Rows {
		if r.Row == num {
			return r
		}
	}
	return nil
}

// fail turns a row into an error row with the directory's refusal.
func (r *RowResult) fail(err error) {
	p := Problem{Row: r.Row, Kind: "invalid-argument", Reason: err.Error()}
	var de *directory.Error
	if errors.As(err, &de) {
		p.Kind, p.Column, p.Reason = de.Kind, de.Field, de.Msg
		if p.Column == "forward_to" {
			p.Column = ColForwarding.Key()
		}
	}
	r.Problems = append(r.Problems, p)
	r.Action, r.Password, r.Changes = ActError, "", nil
}
