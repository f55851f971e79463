// Package ical reads iCalendar files (RFC 5545): it splits a file into calendar objects, one
// per UID (a VEVENT or VTODO with its recurrence overrides and the VTIMEZONEs they use, as
// CalDAV stores them, RFC 4791 §4.1), keeping the text of every part byte for byte; it checks
// each object and extracts what a calendar indexes: the kind, the summary, the start and end
// as UTC instants for range queries (times with a TZID resolved through Go's time zone
// database, or through the file's own VTIMEZONE when the name is not known there) and whether
// the object recurs.
//
// It only reads: it never expands recurrences, rewrites objects or stores anything (the pim
// package stores).
package ical

import (
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the time zone database, whatever the host has installed

	"github.com/postamail/posta/internal/contentline"
)

// Kinds of objects imported.
const (
	Event = "VEVENT"
	Todo  = "VTODO"
)

// Object is one calendar object resource: every component of one UID.
type Object struct {
	Line      int // line of the first component's BEGIN
	UID       string
	Component string // Event or Todo
	// Raw is a VCALENDAR holding the object: the file's own calendar when it held only this
	// object, else the calendar's BEGIN line and properties, the VTIMEZONEs the object uses,
	// its components and the END line, each copied byte for byte.
	Raw     []byte
	Summary string
	// Start and End bound the object in UTC; zero when it has no such date. For a recurring
	// object End is the end of the last occurrence when the rule has an UNTIL, else zero
	// (open-ended). Dates (all-day) start at 00:00 UTC.
	Start, End time.Time
	AllDay     bool
	Recurring  bool
}

// MaxObjectBytes bounds one object.
const MaxObjectBytes = 4 << 20

// component is a BEGIN/END block of the file.
type component struct {
	name       string
	line       int
	start, end int // offsets of its BEGIN line's start and after its END line
	bodyStart  int // after its BEGIN line
	endLine    int // offset of its END line
	props      []contentline.Line
	children   []*component
	bad        *contentline.Error
}

// Parse reads every calendar object of data. Valid objects are returned even when others are
// not; each problem is a *contentline.Error naming its line. A file without any calendar gives
// an error.
func Parse(data []byte) ([]*Object, []error) {
	var (
		objs  []*Object
		errs  []error
		sc    = contentline.NewScanner(data)
		stack []*component
		junk  bool
		cals  int
	)
	for sc.Scan() {
		l := *sc.Line()
		if len(stack) == 0 {
			if l.Is("BEGIN", "VCALENDAR") {
				stack = []*component{{name: "VCALENDAR", line: l.Num, start: l.Start, bodyStart: l.End}}
				junk = false
				cals++
				continue
			}
			if !junk {
				errs = append(errs, contentline.Errorf(l.Num, "expected BEGIN:VCALENDAR, found %q", clip(string(data[l.Start:l.End]))))
				junk = true
			}
			continue
		}
		top := stack[len(stack)-1]
		if l.Err != nil {
			if top.bad == nil {
				top.bad = l.Err
			}
			continue
		}
		switch l.Name {
		case "BEGIN":
			name := strings.ToUpper(strings.TrimSpace(l.Value))
			if name == "" || len(stack) > 8 {
				errs = append(errs, contentline.Errorf(l.Num, "bad BEGIN %q", clip(l.Value)))
				stack, junk = nil, true
				continue
			}
			c := &component{name: name, line: l.Num, start: l.Start, bodyStart: l.End}
			top.children = append(top.children, c)
			stack = append(stack, c)
		case "END":
			name := strings.ToUpper(strings.TrimSpace(l.Value))
			if name != top.name {
				errs = append(errs, contentline.Errorf(l.Num, "END:%s does not close BEGIN:%s of line %d", clip(name), top.name, top.line))
				stack, junk = nil, true
				continue
			}
			top.endLine, top.end = l.Start, l.End
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				o, e := objects(data, top)
				objs, errs = append(objs, o...), append(errs, e...)
			}
		default:
			top.props = append(top.props, l)
		}
	}
	if len(stack) > 0 {
		errs = append(errs, contentline.Errorf(stack[0].line, "BEGIN:VCALENDAR without END:VCALENDAR"))
	}
	if cals == 0 && len(errs) == 0 {
		errs = append(errs, contentline.Errorf(1, "no calendar in the file (expected BEGIN:VCALENDAR)"))
	}
	return objs, errs
}

// objects splits one VCALENDAR into its objects.
func objects(data []byte, cal *component) ([]*Object, []error) {
	var errs []error
	if cal.bad != nil {
		return nil, []error{cal.bad}
	}
	tzs := map[string]*component{}
	var order []string
	groups := map[string][]*component{}
	for _, c := range cal.children {
		switch c.name {
		case "VTIMEZONE":
			id := strings.TrimSpace(prop(c, "TZID").Value)
			if id == "" {
				errs = append(errs, contentline.Errorf(c.line, "VTIMEZONE without TZID"))
				continue
			}
			tzs[id] = c
		case Event, Todo:
			uidLine := prop(c, "UID")
			uid := strings.TrimSpace(uidLine.Text())
			if uid == "" {
				errs = append(errs, contentline.Errorf(c.line, "%s without UID", c.name))
				continue
			}
			if len(uid) > 255 {
				errs = append(errs, contentline.Errorf(uidLine.Num, "UID longer than 255 bytes"))
				continue
			}
			if _, ok := groups[uid]; !ok {
				order = append(order, uid)
			}
			groups[uid] = append(groups[uid], c)
		default:
			errs = append(errs, contentline.Errorf(c.line, "%s not imported: only VEVENT and VTODO are", clip(c.name)))
		}
	}
	cz := &zones{data: data, comps: tzs, parsed: map[string]*vtimezone{}, convs: map[string]converter{}}
	var objs []*Object
	for _, uid := range order {
		o, err := object(data, cal, uid, groups[uid], cz, len(order) == 1 && len(errs) == 0)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	return objs, errs
}

// object builds the object of one UID from its components.
func object(data []byte, cal *component, uid string, comps []*component, cz *zones, whole bool) (*Object, *contentline.Error) {
	master := comps[0]
	for _, c := range comps {
		if c.name != master.name {
			return nil, contentline.Errorf(c.line, "UID %q used by both %s and %s", clip(uid), master.name, c.name)
		}
		if c.bad != nil {
			return nil, c.bad
		}
		if err := checkNested(c); err != nil {
			return nil, err
		}
	}
	for _, c := range comps {
		if prop(c, "RECURRENCE-ID").Name == "" {
			master = c
			break
		}
	}
	o := &Object{Line: comps[0].line, UID: uid, Component: master.name, Summary: strings.TrimSpace(prop(master, "SUMMARY").Text())}
	if err := o.times(master, cz); err != nil {
		return nil, err
	}
	o.Recurring = o.Recurring || len(comps) > 1
	if whole {
		o.Raw = data[cal.start:cal.end]
	} else {
		size := cal.bodyStart - cal.start + cal.end - cal.endLine
		for _, c := range comps {
			size += c.end - c.start
		}
		b := make([]byte, 0, size+1024)
		b = append(b, data[cal.start:cal.bodyStart]...)
		for _, p := range cal.props {
			b = append(b, data[p.Start:p.End]...)
		}
		used := map[string]bool{}
		for _, c := range comps {
			tzidsOf(c, used)
		}
		for _, c := range cal.children {
			if c.name == "VTIMEZONE" && used[strings.TrimSpace(prop(c, "TZID").Value)] {
				b = append(b, data[c.start:c.end]...)
			}
		}
		for _, c := range comps {
			b = append(b, data[c.start:c.end]...)
		}
		o.Raw = append(b, data[cal.endLine:cal.end]...)
	}
	if len(o.Raw) > MaxObjectBytes {
		return nil, contentline.Errorf(o.Line, "object larger than %d bytes", MaxObjectBytes)
	}
	return o, nil
}

// checkNested refuses components whose nested components (alarms) hold a bad line.
func checkNested(c *component) *contentline.Error {
	for _, ch := range c.children {
		if ch.bad != nil {
			return ch.bad
		}
		if err := checkNested(ch); err != nil {
			return err
		}
	}
	return nil
}

// tzidsOf adds the TZIDs c and its children refer to.
func tzidsOf(c *component, used map[string]bool) {
	for i := range c.props {
		if id := c.props[i].Param("TZID"); id != "" {
			used[id] = true
		}
	}
	for _, ch := range c.children {
		tzidsOf(ch, used)
	}
}

// prop returns c's first property of the name, or a zero line.
func prop(c *component, name string) *contentline.Line {
	for i := range c.props {
		if c.props[i].Name == name {
			return &c.props[i]
		}
	}
	return &contentline.Line{}
}

// times fills Start, End, AllDay and Recurring from the master component.
func (o *Object) times(c *component, cz *zones) *contentline.Error {
	var startLoc converter
	if l := prop(c, "DTSTART"); l.Name != "" {
		t, allDay, conv, err := cz.when(l)
		if err != nil {
			return err
		}
		o.Start, o.AllDay, startLoc = t, allDay, conv
	} else if c.name == Event {
		return contentline.Errorf(c.line, "VEVENT without DTSTART")
	}
	endName := "DTEND"
	if c.name == Todo {
		endName = "DUE"
	}
	if l := prop(c, endName); l.Name != "" {
		if prop(c, "DURATION").Name != "" {
			return contentline.Errorf(l.Num, "%s and DURATION both given", endName)
		}
		t, date, _, err := cz.when(l)
		if err != nil {
			return err
		}
		o.End = t
		if o.Start.IsZero() {
			o.AllDay = date // a task due on a day
		}
	} else if l := prop(c, "DURATION"); l.Name != "" {
		d, ok := parseDuration(strings.TrimSpace(l.Value))
		if !ok {
			return contentline.Errorf(l.Num, "bad DURATION %q", clip(l.Value))
		}
		if o.Start.IsZero() {
			return contentline.Errorf(l.Num, "DURATION without DTSTART")
		}
		o.End = o.Start.Add(d)
	} else if !o.Start.IsZero() {
		o.End = o.Start
		if o.AllDay {
			o.End = o.Start.AddDate(0, 0, 1)
		}
	}
	if o.Start.IsZero() {
		o.Start = o.End // a task with only a due date
	}
	if o.End.Before(o.Start) {
		if l := prop(c, endName); l.Name != "" {
			return contentline.Errorf(l.Num, "%s before DTSTART", endName)
		}
		return contentline.Errorf(prop(c, "DURATION").Num, "negative DURATION")
	}
	dur := o.End.Sub(o.Start)
	if prop(c, "RDATE").Name != "" {
		o.Recurring, o.End = true, time.Time{}
	}
	if l := prop(c, "RRULE"); l.Name != "" {
		until, err := ruleUntil(l, startLoc)
		if err != nil {
			return err
		}
		switch {
		case o.Recurring || until.IsZero() || o.Start.IsZero():
			o.End = time.Time{} // open-ended
		default:
			o.End = until.Add(dur)
			if o.End.Before(o.Start) {
				o.End = o.Start
			}
		}
		o.Recurring = true
	}
	return nil
}

// ruleUntil checks an RRULE and returns its UNTIL as an instant (zero without one).
func ruleUntil(l *contentline.Line, startLoc converter) (time.Time, *contentline.Error) {
	var until time.Time
	freq := false
	for _, part := range strings.Split(strings.TrimSpace(l.Value), ";") {
		k, v, _ := strings.Cut(part, "=")
		switch strings.ToUpper(k) {
		case "FREQ":
			switch strings.ToUpper(v) {
			case "SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY":
				freq = true
			default:
				return until, contentline.Errorf(l.Num, "RRULE: bad FREQ %q", clip(v))
			}
		case "UNTIL":
			wall, date, utc, ok := parseDateTime(v)
			if !ok {
				return until, contentline.Errorf(l.Num, "RRULE: bad UNTIL %q", clip(v))
			}
			switch {
			case utc:
				until = wall
			case date:
				until = wall.AddDate(0, 0, 1).Add(-time.Second)
			case startLoc != nil:
				until = startLoc(wall)
			default:
				until = wall
			}
		}
	}
	if !freq {
		return until, contentline.Errorf(l.Num, "RRULE without FREQ")
	}
	return until, nil
}

// converter turns a wall-clock time (given as UTC fields) into the instant it names.
type converter func(wall time.Time) time.Time

// zones resolves the TZIDs of one calendar.
type zones struct {
	data   []byte
	comps  map[string]*component
	parsed map[string]*vtimezone
	convs  map[string]converter // resolved TZIDs: looking a name up is costly
}

// when parses a DATE or DATE-TIME property into an instant, with whether it is a date and
// the converter of its zone (nil for UTC and floating times).
func (z *zones) when(l *contentline.Line) (time.Time, bool, converter, *contentline.Error) {
	v := strings.TrimSpace(l.Value)
	wall, date, utc, ok := parseDateTime(v)
	if !ok || strings.EqualFold(l.Param("VALUE"), "DATE") && !date {
		return time.Time{}, false, nil, contentline.Errorf(l.Num, "%s: bad date or date-time %q", l.Name, clip(v))
	}
	if date || utc {
		return wall, date, nil, nil
	}
	tzid := l.Param("TZID")
	if tzid == "" {
		return wall, false, nil, nil // floating: taken as UTC
	}
	conv, err := z.location(tzid, l.Num)
	if err != nil {
		return time.Time{}, false, nil, err
	}
	return conv(wall), false, conv, nil
}

// location resolves a TZID: Go's database first (also for names with a vendor prefix such
// as /mozilla.org/20050126_1/Europe/Rome), then the calendar's VTIMEZONE of that TZID.
func (z *zones) location(tzid string, line int) (converter, *contentline.Error) {
	if conv, ok := z.convs[tzid]; ok {
		return conv, nil
	}
	conv, err := z.resolve(tzid, line)
	if err == nil {
		z.convs[tzid] = conv
	}
	return conv, err
}

func (z *zones) resolve(tzid string, line int) (converter, *contentline.Error) {
	if loc := loadLocation(tzid); loc != nil {
		return func(w time.Time) time.Time {
			return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc).UTC()
		}, nil
	}
	tz, ok := z.parsed[tzid]
	if !ok {
		c := z.comps[tzid]
		if c == nil {
			return nil, contentline.Errorf(line, "unknown TZID %q: not a known time zone and no VTIMEZONE in the file", clip(tzid))
		}
		var err *contentline.Error
		if tz, err = parseVTimezone(c); err != nil {
			return nil, err
		}
		z.parsed[tzid] = tz
	}
	return func(w time.Time) time.Time { return w.Add(-time.Duration(tz.offsetAt(w)) * time.Second) }, nil
}

func loadLocation(tzid string) *time.Location {
	name := strings.Trim(tzid, `"`)
	for name != "" {
		if name != "Local" && !strings.HasPrefix(name, "/") && !strings.Contains(name, "..") {
			if loc, err := time.LoadLocation(name); err == nil {
				return loc
			}
		}
		_, rest, ok := strings.Cut(name, "/")
		if !ok {
			break
		}
		name = rest
	}
	return nil
}

// parseDateTime reads DATE (YYYYMMDD) or DATE-TIME (YYYYMMDDTHHMMSS, Z for UTC) as wall-clock
// fields in UTC.
func parseDateTime(v string) (t time.Time, date, utc, ok bool) {
	if len(v) == 8 {
		t, err := time.Parse("20060102", v)
		return t, true, false, err == nil
	}
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		utc = true
		v = v[:len(v)-1]
	}
	if len(v) != 15 {
		return t, false, false, false
	}
	t, err := time.Parse("20060102T150405", v)
	return t, false, utc, err == nil
}

// parseDuration reads an RFC 5545 duration: [+|-]P[nW] or P[nD][T[nH][nM][nS]].
func parseDuration(v string) (time.Duration, bool) {
	neg := false
	switch {
	case strings.HasPrefix(v, "-"):
		neg, v = true, v[1:]
	case strings.HasPrefix(v, "+"):
		v = v[1:]
	}
	if !strings.HasPrefix(v, "P") || len(v) < 3 {
		return 0, false
	}
	v = v[1:]
	var d time.Duration
	inTime, n, digits, any := false, int64(0), false, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			if n > 1e9 {
				return 0, false
			}
			n, digits = n*10+int64(c-'0'), true
			continue
		case c == 'T' && !inTime && !digits:
			inTime = true
			continue
		}
		if !digits {
			return 0, false
		}
		var unit time.Duration
		switch {
		case c == 'W' && !inTime:
			unit = 7 * 24 * time.Hour
		case c == 'D' && !inTime:
			unit = 24 * time.Hour
		case c == 'H' && inTime:
			unit = time.Hour
		case c == 'M' && inTime:
			unit = time.Minute
		case c == 'S' && inTime:
			unit = time.Second
		default:
			return 0, false
		}
		d += time.Duration(n) * unit
		n, digits, any = 0, false, true
	}
	if digits || !any {
		return 0, false
	}
	if neg {
		d = -d
	}
	return d, true
}

func clip(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

var weekdays = []string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

// vtimezone is a VTIMEZONE's observances.
type vtimezone struct{ obs []observance }

type observance struct {
	start    time.Time // DTSTART, wall clock
	from, to int       // offsets in seconds
	rdates   []time.Time
	rule     *yearly
}

// yearly is the yearly rule of an observance: a weekday of a month (the nth, or the last
// with a negative n), or the weekday within given days of the month.
type yearly struct {
	month    time.Month
	nth      int
	weekday  time.Weekday
	monthDay []int
	until    time.Time
}

func parseVTimezone(c *component) (*vtimezone, *contentline.Error) {
	tz := &vtimezone{}
	for _, ch := range c.children {
		if ch.name != "STANDARD" && ch.name != "DAYLIGHT" {
			continue
		}
		if ch.bad != nil {
			return nil, ch.bad
		}
		var o observance
		l := prop(ch, "DTSTART")
		wall, _, _, ok := parseDateTime(strings.TrimSpace(l.Value))
		if !ok {
			return nil, contentline.Errorf(ch.line, "%s without a valid DTSTART", ch.name)
		}
		o.start = wall
		var err *contentline.Error
		if o.from, err = parseOffset(prop(ch, "TZOFFSETFROM"), ch); err != nil {
			return nil, err
		}
		if o.to, err = parseOffset(prop(ch, "TZOFFSETTO"), ch); err != nil {
			return nil, err
		}
		for i := range ch.props {
			if ch.props[i].Name == "RDATE" {
				for _, v := range strings.Split(ch.props[i].Value, ",") {
					if t, _, _, ok := parseDateTime(strings.TrimSpace(v)); ok {
						o.rdates = append(o.rdates, t)
					}
				}
			}
		}
		if r := prop(ch, "RRULE"); r.Name != "" {
			o.rule = parseYearly(r.Value)
		}
		tz.obs = append(tz.obs, o)
	}
	if len(tz.obs) == 0 {
		return nil, contentline.Errorf(c.line, "VTIMEZONE without STANDARD or DAYLIGHT")
	}
	return tz, nil
}

func parseOffset(l *contentline.Line, c *component) (int, *contentline.Error) {
	v := strings.TrimSpace(l.Value)
	if l.Name == "" {
		return 0, contentline.Errorf(c.line, "%s without TZOFFSETFROM or TZOFFSETTO", c.name)
	}
	if (len(v) != 5 && len(v) != 7) || (v[0] != '+' && v[0] != '-') {
		return 0, contentline.Errorf(l.Num, "bad UTC offset %q", clip(v))
	}
	n := 0
	for i, c := range v[1:] {
		if c < '0' || c > '9' {
			return 0, contentline.Errorf(l.Num, "bad UTC offset %q", clip(v))
		}
		d := int(c - '0')
		switch i {
		case 0:
			n += d * 36000
		case 1:
			n += d * 3600
		case 2:
			n += d * 600
		case 3:
			n += d * 60
		case 4:
			n += d * 10
		case 5:
			n += d
		}
	}
	if v[0] == '-' {
		n = -n
	}
	return n, nil
}

// parseYearly reads the yearly rules time zones use; nil for anything else.
func parseYearly(v string) *yearly {
	y := &yearly{}
	yearlyFreq := false
	for _, part := range strings.Split(strings.TrimSpace(v), ";") {
		k, val, _ := strings.Cut(part, "=")
		switch strings.ToUpper(k) {
		case "FREQ":
			yearlyFreq = strings.EqualFold(val, "YEARLY")
		case "BYMONTH":
			m := atoi(val)
			if m < 1 || m > 12 {
				return nil
			}
			y.month = time.Month(m)
		case "BYDAY":
			val = strings.ToUpper(val)
			if len(val) < 2 {
				return nil
			}
			wd := slices.Index(weekdays, val[len(val)-2:])
			if wd < 0 {
				return nil
			}
			y.weekday = time.Weekday(wd)
			if n := val[:len(val)-2]; n != "" {
				neg := strings.HasPrefix(n, "-")
				y.nth = atoi(strings.TrimLeft(n, "+-"))
				if y.nth < 1 || y.nth > 5 {
					return nil
				}
				if neg {
					y.nth = -y.nth
				}
			}
		case "BYMONTHDAY":
			for _, d := range strings.Split(val, ",") {
				if n := atoi(d); n >= 1 && n <= 31 {
					y.monthDay = append(y.monthDay, n)
				}
			}
		case "UNTIL":
			if t, _, _, ok := parseDateTime(val); ok {
				y.until = t
			}
		}
	}
	if !yearlyFreq || y.month == 0 || (y.nth == 0 && len(y.monthDay) == 0) {
		return nil
	}
	return y
}

func atoi(s string) int {
	if s == "" || len(s) > 4 {
		return -1
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// onset returns the rule's transition in year at the clock time of start.
func (y *yearly) onset(year int, start time.Time) (time.Time, bool) {
	clock := func(day int) time.Time {
		return time.Date(year, y.month, day, start.Hour(), start.Minute(), start.Second(), 0, time.UTC)
	}
	last := time.Date(year, y.month+1, 0, 0, 0, 0, 0, time.UTC).Day()
	switch {
	case y.nth > 0:
		first := clock(1)
		day := 1 + (int(y.weekday)-int(first.Weekday())+7)%7 + 7*(y.nth-1)
		if day > last {
			return time.Time{}, false
		}
		return clock(day), true
	case y.nth < 0:
		lastT := clock(last)
		day := last - (int(lastT.Weekday())-int(y.weekday)+7)%7 + 7*(y.nth+1)
		if day < 1 {
			return time.Time{}, false
		}
		return clock(day), true
	}
	for _, d := range y.monthDay {
		if d <= last && clock(d).Weekday() == y.weekday {
			return clock(d), true
		}
	}
	return time.Time{}, false
}

// offsetAt returns the UTC offset in force at a wall-clock time: the one of the latest
// transition at or before it.
func (tz *vtimezone) offsetAt(wall time.Time) int {
	var best time.Time
	off, found := 0, false
	consider := func(onset time.Time, to int) {
		if !onset.After(wall) && (!found || onset.After(best)) {
			best, off, found = onset, to, true
		}
	}
	for _, o := range tz.obs {
		consider(o.start, o.to)
		for _, r := range o.rdates {
			consider(r, o.to)
		}
		if o.rule != nil {
			for _, year := range []int{wall.Year() - 1, wall.Year()} {
				t, ok := o.rule.onset(year, o.start)
				if ok && !t.Before(o.start) && (o.rule.until.IsZero() || !t.After(o.rule.until.Add(time.Duration(o.from)*time.Second))) {
					consider(t, o.to)
				}
			}
		}
	}
	if !found {
		earliest := tz.obs[0]
		for _, o := range tz.obs[1:] {
			if o.start.Before(earliest.start) {
				earliest = o
			}
		}
		return earliest.from
	}
	return off
}
