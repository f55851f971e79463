package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/directory"
)

// form is a submitted (or prefilled) form with its errors, per input and general.
type form struct {
	l       *lang
	Values  url.Values
	Errors  map[string]string
	General string
}

func newForm(l *lang, vals url.Values) *form {
	if vals == nil {
		vals = url.Values{}
	}
	return &form{l: l, Values: vals, Errors: map[string]string{}}
}

// postForm parses the request body into a form.
func postForm(r *http.Request, l *lang) *form {
	r.ParseForm()
	vals := url.Values{}
	for k, vs := range r.PostForm {
		if k != "csrf" {
			vals[k] = vs
		}
	}
	return newForm(l, vals)
}

// Get is an input's value.
func (f *form) Get(name string) string { return f.Values.Get(name) }

// Set sets an input's value.
func (f *form) Set(name, value string) *form { f.Values.Set(name, value); return f }

// All is every value of a multi-valued input.
func (f *form) All(name string) []string { return f.Values[name] }

// Checked reports whether a checkbox is on.
func (f *form) Checked(name string) bool {
	v := f.Values.Get(name)
	return v == "on" || v == "true" || v == "1"
}

// Selected reports whether value is among the input's values.
func (f *form) Selected(name, value string) bool {
	for _, v := range f.Values[name] {
		if v == value {
			return true
		}
	}
	return false
}

// Err is the error shown under an input.
func (f *form) Err(name string) string { return f.Errors[name] }

// Invalid reports whether the form has any error.
func (f *form) Invalid() bool { return len(f.Errors) > 0 || f.General != "" }

// refuse records a directory refusal on the input its Field names. Each of inputs is an input
// of the form, or "field=input" when the directory's field has another name on this form; a
// refusal naming no input of the form is shown above it. It reports false (recording nothing)
// when err is not a refusal but a failure, which the caller returns.
func (f *form) refuse(err error, inputs ...string) bool {
	var de *directory.Error
	if !errors.As(err, &de) {
		return false
	}
	msg := f.l.Err(err)
	for _, in := range inputs {
		field, input, ok := strings.Cut(in, "=")
		if !ok {
			input = field
		}
		if de.Field != "" && de.Field == field {
			f.Errors[input] = msg
			return true
		}
	}
	f.General = msg
	return true
}

// fieldErr records a console-side input error (a value that cannot be parsed at all).
func (f *form) fieldErr(input, key string, args ...any) {
	f.Errors[input] = f.l.T(key, args...)
}

// intValue parses an optional whole number input; an empty input is 0.
func (f *form) intValue(name string) (int64, bool) {
	s := strings.TrimSpace(f.Get(name))
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f.fieldErr(name, "form.not_a_number")
		return 0, false
	}
	return n, true
}

// address joins a local part and a domain chosen from a list.
func (f *form) address(localInput, domainInput string) string {
	local := strings.TrimSpace(f.Get(localInput))
	domain := strings.TrimSpace(f.Get(domainInput))
	if strings.Contains(local, "@") || domain == "" {
		return local
	}
	return local + "@" + domain
}

// splitAddresses splits a textarea of addresses, one per line or separated by commas.
func splitAddresses(s string) []string {
	out := []string{}
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' || r == ' ' || r == '\t' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
