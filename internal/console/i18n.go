package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postamail/posta/internal/directory"
)

// langCookie holds the language chosen with the switch.
const langCookie = "posta_lang"

// languages are the console's languages, the default first.
var languages = []string{"en", "it"}

// catalogues hold every string the console shows, one catalogue per language, with the same
// keys (a test checks it).
var catalogues = map[string]map[string]string{"en": messagesEN, "it": messagesIT}

// lang is the language of one request.
type lang struct {
	Code string
	msgs map[string]string
}

func newLang(code string) *lang {
	m, ok := catalogues[code]
	if !ok {
		code, m = languages[0], catalogues[languages[0]]
	}
	return &lang{Code: code, msgs: m}
}

// langFor picks the language of a request: the switch's cookie, else the best match of
// Accept-Language, else English.
func langFor(r *http.Request) *lang {
	if ck, err := r.Cookie(langCookie); err == nil {
		if _, ok := catalogues[ck.Value]; ok {
			return newLang(ck.Value)
		}
	}
	return newLang(fromAcceptLanguage(r.Header.Get("Accept-Language")))
}

// fromAcceptLanguage returns the supported language the header prefers most.
func fromAcceptLanguage(h string) string {
	best, bestQ := languages[0], -1.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if p, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(p, 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if _, ok := catalogues[primary]; ok && q > bestQ && q > 0 {
			best, bestQ = primary, q
		}
	}
	return best
}

// T returns the message for key, formatted with args.
func (l *lang) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// Has reports whether the catalogue has key.
func (l *lang) Has(key string) bool { _, ok := l.msgs[key]; return ok }

// Opt returns the message for key when there is one, otherwise fallback (for values that come
// from the directory, like an audit action, which the catalogue may not know).
func (l *lang) Opt(key, fallback string) string {
	if m, ok := l.msgs[key]; ok {
		return m
	}
	return fallback
}

// Err is the text of an error for people. A directory refusal is shown with its kind in the
// reader's language and the directory's detail, which names the objects and numbers involved.
func (l *lang) Err(err error) string {
	var de *directory.Error
	if !errors.As(err, &de) {
		return l.T("error.500.text")
	}
	if l.Code == "en" && de.Msg != "" {
		return de.Msg
	}
	kind := l.Opt("kind."+de.Kind, l.T("kind.invalid-argument"))
	if de.Msg == "" || de.Msg == de.Kind {
		return kind
	}
	return kind + " (" + de.Msg + ")"
}

// Others are the languages the switch offers.
func (l *lang) Others() []string {
	var out []string
	for _, c := range languages {
		if c != l.Code {
			out = append(out, c)
		}
	}
	return out
}

// Num formats a whole number with the language's thousands separator.
func (l *lang) Num(n any) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	default:
		return fmt.Sprint(n)
	}
	neg := v < 0
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	sep := ","
	if l.Code == "it" {
		sep = "."
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Bytes formats a size in binary units (1 MB = 1 MiB, as quotas are).
func (l *lang) Bytes(n int64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	f, u := float64(n), 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	var s string
	if u == 0 || f >= 100 || f == float64(int64(f)) {
		s = strconv.FormatFloat(f, 'f', 0, 64)
	} else {
		s = strconv.FormatFloat(f, 'f', 1, 64)
	}
	if l.Code == "it" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " " + units[u]
}

// Time formats a time in milliseconds since the epoch, in UTC; zero is "never".
func (l *lang) Time(ms int64) string {
	if ms == 0 {
		return l.T("common.never")
	}
	t := time.UnixMilli(ms).UTC()
	if l.Code == "it" {
		return t.Format("02/01/2006 15:04") + " UTC"
	}
	return t.Format("2006-01-02 15:04") + " UTC"
}

// Percent formats part of whole as a percentage.
func (l *lang) Percent(part, whole int64) string {
	if whole <= 0 {
		return "–"
	}
	return strconv.FormatInt(part*100/whole, 10) + "%"
}
