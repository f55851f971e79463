package billing

import (
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// MilliPoints is an amount of points in thousandths of a point: every amount, price and
// balance is one, so that no arithmetic on money is ever done in floating point.
type MilliPoints int64

// PerPoint is the number of milli-points in a point.
const PerPoint = 1000

// String shows the amount in points with up to three decimals: "12", "-3.5", "0.125".
func (m MilliPoints) String() string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = uint64(-m)
	}
	s := strconv.FormatUint(u/PerPoint, 10)
	if frac := u % PerPoint; frac != 0 {
		f := strconv.FormatUint(frac+PerPoint, 10)[1:] // zero-padded to 3 digits
		s += "." + strings.TrimRight(f, "0")
	}
	if neg {
		return "-" + s
	}
	return s
}

// MarshalJSON writes the amount as a decimal string of points, exactly.
func (m MilliPoints) MarshalJSON() ([]byte, error) {
	return []byte(`"` + m.String() + `"`), nil
}

// UnmarshalJSON reads a decimal string (or number) of points.
func (m *MilliPoints) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := ParsePoints(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParsePoints reads a number of points with up to three decimals ("12", "0.5", "-1,25"),
// exactly.
func ParsePoints(s string) (MilliPoints, error) {
	v, err := parseDecimal(s, 3, 1_000_000_000_000)
	return MilliPoints(v), err
}

// ParseEUR reads an amount in euro with up to two decimals ("100", "99.90", "1234,5") into
// cents, exactly. Thousands separators are not accepted (1.000 would be ambiguous).
func ParseEUR(s string) (int64, error) {
	v, err := parseDecimal(s, 2, 10_000_000_000)
	return v, err
}

type decimalError struct{ s string }

func (e decimalError) Error() string { return "not a valid amount: " + strconv.Quote(e.s) }

// parseDecimal parses a decimal with at most places decimals into an integer scaled by
// 10^places, refusing absolute values (before scaling) of limit or more.
func parseDecimal(s string, places int, limit int64) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	} else if strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	s = strings.Replace(s, ",", ".", 1)
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(frac) > places || (hasFrac && frac == "") || len(whole) > 15 {
		return 0, decimalError{orig}
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, decimalError{orig}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w >= limit {
		return 0, decimalError{orig}
	}
	scale := int64(1)
	for range places {
		scale *= 10
	}
	var f int64
	if frac != "" {
		frac += strings.Repeat("0", places-len(frac))
		f, _ = strconv.ParseInt(frac, 10, 64)
	}
	v := w*scale + f
	if neg {
		v = -v
	}
	return v, nil
}

// FormatEUR shows cents as euro with two decimals: "100.00".
func FormatEUR(cents int64) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	s := strconv.FormatInt(cents/100, 10) + "." + strconv.FormatInt(cents%100+100, 10)[1:]
	if neg {
		return "-" + s
	}
	return s
}

// eurToPoints converts cents at a rate of points per euro: cents × rate × 1000 / 100.
func eurToPoints(cents, pointsPerEUR int64) MilliPoints {
	return MilliPoints(cents * pointsPerEUR * 10)
}

// dayMS is the length of a UTC day in milliseconds.
const dayMS = 86_400_000

// proRata is floor(price × ms / dayMS) computed exactly in 128 bits (price and ms are not
// negative).
func proRata(price MilliPoints, ms int64) MilliPoints {
	if price <= 0 || ms <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(price), uint64(ms))
	q, _ := bits.Div64(hi, lo, dayMS)
	return MilliPoints(q)
}

// Day is a UTC day, counted from 1970-01-01 (day 0).
type Day int64

// DayOf is the UTC day of t.
func DayOf(t time.Time) Day { return Day(floorDiv(t.UnixMilli(), dayMS)) }

// DayOfMS is the UTC day of a time in Unix milliseconds.
func DayOfMS(ms int64) Day { return Day(floorDiv(ms, dayMS)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Start is the first millisecond of the day.
func (d Day) Start() int64 { return int64(d) * dayMS }

// End is the first millisecond of the next day.
func (d Day) End() int64 { return int64(d+1) * dayMS }

// Time is the day's midnight UTC.
func (d Day) Time() time.Time { return time.UnixMilli(d.Start()).UTC() }

func (d Day) String() string { return d.Time().Format(time.DateOnly) }

// MarshalJSON writes the day as "YYYY-MM-DD".
func (d Day) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

// ParseDay reads "YYYY-MM-DD".
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return 0, invalid("date", "dates are written YYYY-MM-DD, got %q", s)
	}
	return DayOf(t), nil
}

// ParseMonth reads "YYYY-MM" and returns its first and last day.
func ParseMonth(s string) (first, last Day, err error) {
	t, err := time.Parse("2006-01", strings.TrimSpace(s))
	if err != nil {
		return 0, 0, invalid("month", "months are written YYYY-MM, got %q", s)
	}
	return DayOf(t), DayOf(t.AddDate(0, 1, 0)) - 1, nil
}
