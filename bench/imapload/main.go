// Command imapload is posta's IMAP benchmark. It fills an empty mailbox with generated,
// realistic messages, the same for every server, then times what mail clients do: SELECT,
// listing every message, reading random bodies, SEARCH, changing flags and EXPUNGE. Each
// timed operation is repeated and its median reported, and every answer is checked against
// what was generated. With -idle it also measures how much memory each IDLE connection costs
// the server and how long each of them waits for the "* n EXISTS" of one new message. -steps
// chooses the parts to run, so that a mailbox filled once can be measured again and again;
// -mode count instead counts the messages of several accounts (STATUS), waiting until they
// reach a number: the check that a delivery load lost nothing. It speaks the protocol over
// plain TCP with LOGIN, so it measures any server the same way, and it only ever connects to
// this machine.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

type options struct {
	addr, user, pass, mailbox string
	fill, reps, fetches, idle int
	pids                      []int
	children                  bool
	settle                    time.Duration
	appendMode                string
	seed                      uint64
	cmdTimeout, timeout       time.Duration
	label                     string
	expunge                   bool
	steps                     map[string]bool
	notifySMTP                string
	notifyTimeout             time.Duration
	mode                      string
	users                     []string
	expect                    int
}

// result is the report: times are medians over the repetitions, in milliseconds.
type result struct {
	Server         string  `json:"server"`
	Messages       int     `json:"messages"`
	AvgBytes       int     `json:"avg_bytes"`
	Reps           int     `json:"reps"`
	AppendMode     string  `json:"append_mode"`
	FillSeconds    float64 `json:"fill_s"`
	FillMsgsPerSec float64 `json:"fill_msgs_per_s"`

	SelectMs        float64 `json:"select_ms"`
	FetchEnvelopeMs float64 `json:"fetch_envelope_ms"`
	BodyFetches     int     `json:"body_fetches"`
	FetchBodyMs     float64 `json:"fetch_body_ms"` // all BodyFetches together
	SearchFromMs    float64 `json:"search_from_ms"`
	SearchFromHits  int     `json:"search_from_hits"`
	SearchTextMs    float64 `json:"search_text_ms"`
	SearchTextHits  int     `json:"search_text_hits"`
	SearchBodyMs    float64 `json:"search_body_ms"`
	StoreSeenMs     float64 `json:"store_seen_ms"`
	StoreUnseenMs   float64 `json:"store_unseen_ms"`
	ExpungeMs       float64 `json:"expunge_half_ms"` // STORE \Deleted and EXPUNGE, once
	Expunged        int     `json:"expunged"`

	IdleConns       int                  `json:"idle_conns,omitempty"`
	IdleOpenSeconds float64              `json:"idle_open_s,omitempty"`
	IdleSettleSecs  float64              `json:"idle_settle_s,omitempty"`
	IdleRSSBefore   int64                `json:"idle_rss_before,omitempty"`
	IdleRSSAfter    int64                `json:"idle_rss_after,omitempty"`
	IdleRSSPerConn  int64                `json:"idle_rss_bytes_per_conn,omitempty"`
	IdlePSSBefore   int64                `json:"idle_pss_before,omitempty"`
	IdlePSSAfter    int64                `json:"idle_pss_after,omitempty"`
	IdlePSSPerConn  int64                `json:"idle_pss_bytes_per_conn,omitempty"`
	IdleProcsBefore int                  `json:"idle_procs_before,omitempty"`
	IdleProcsAfter  int                  `json:"idle_procs_after,omitempty"`
	IdleNotifyVia   string               `json:"idle_notify_via,omitempty"` // SMTP or APPEND
	IdleNotifyP50Ms float64              `json:"idle_notify_p50_ms,omitempty"`
	IdleNotifyP99Ms float64              `json:"idle_notify_p99_ms,omitempty"`
	IdleNotifyMaxMs float64              `json:"idle_notify_max_ms,omitempty"`
	Steps           string               `json:"steps"`
	SamplesMs       map[string][]float64 `json:"samples_ms"`
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:143", "IMAP server, plain TCP (loopback only)")
	flag.StringVar(&o.user, "user", "", "login name (required)")
	flag.StringVar(&o.pass, "pass", "", "password (required)")
	flag.StringVar(&o.mailbox, "mailbox", "INBOX", "mailbox to fill and measure; it must be empty")
	flag.IntVar(&o.fill, "fill", 20000, "messages to append before measuring")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of each timed operation; medians are reported")
	flag.IntVar(&o.fetches, "fetches", 1000, "random single-message body fetches per repetition")
	flag.IntVar(&o.idle, "idle", 0, "IDLE connections to open for the memory measurement (0: none)")
	pid := flag.Int("pid", 0, "server process, for the IDLE memory measurement")
	pids := flag.String("pids", "", "server processes, comma separated, whose memory is summed")
	flag.BoolVar(&o.children, "children", true, "count the descendants of -pid and -pids too (Dovecot forks per connection)")
	flag.DurationVar(&o.settle, "settle", 2*time.Second, "quiet wait before each memory reading, before and after opening the IDLE connections")
	flag.StringVar(&o.appendMode, "append", "auto", "auto, multi (MULTIAPPEND) or single (an APPEND per message, pipelined with LITERAL+)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the generated messages and of the random fetches")
	flag.DurationVar(&o.cmdTimeout, "cmd-timeout", 5*time.Minute, "longest wait for one command")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "give up after this long")
	flag.StringVar(&o.label, "label", "", "name of the server in the report")
	flag.BoolVar(&o.expunge, "expunge", true, "end with STORE \\Deleted and EXPUNGE of half the messages (false leaves the mailbox full, to profile it)")
	steps := flag.String("steps", "fill,ops,idle,expunge", "parts to run, comma separated: fill (APPEND the messages to an empty mailbox), ops (the timed operations), idle (with -idle), expunge; without fill the mailbox must hold what fill appended with the same -fill and -seed")
	flag.StringVar(&o.notifySMTP, "notify-smtp", "", "deliver the message that the IDLE connections wait for over SMTP to this server (loopback), to -user; else APPEND it")
	flag.DurationVar(&o.notifyTimeout, "notify-timeout", 2*time.Minute, "longest wait of an IDLE connection for the new message's EXISTS")
	flag.StringVar(&o.mode, "mode", "bench", "bench, or count: print the messages in the INBOX of -users (or -user) and, with -expect, wait until they are at least that many")
	users := flag.String("users", "", "count mode: accounts, comma separated, all with -pass")
	flag.IntVar(&o.expect, "expect", 0, "count mode: wait until the accounts hold this many messages in all")
	asJSON := flag.Bool("json", false, "print one JSON line instead of a table")
	flag.Parse()
	o.steps = map[string]bool{}
	for _, s := range strings.Split(*steps, ",") {
		switch s = strings.TrimSpace(s); s {
		case "fill", "ops", "idle", "expunge":
			o.steps[s] = true
		case "":
		default:
			fmt.Fprintf(os.Stderr, "imapload: unknown step %q in -steps\n", s)
			os.Exit(2)
		}
	}
	if !o.expunge {
		delete(o.steps, "expunge")
	}
	for _, u := range strings.Split(*users, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.users = append(o.users, u)
		}
	}
	if *pid != 0 {
		o.pids = append(o.pids, *pid)
	}
	for _, s := range strings.Split(*pids, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 {
			fmt.Fprintf(os.Stderr, "imapload: bad process id %q in -pids\n", s)
			os.Exit(2)
		}
		o.pids = append(o.pids, p)
	}
	if o.mode == "count" {
		if err := runCount(o); err != nil {
			fmt.Fprintln(os.Stderr, "imapload:", err)
			os.Exit(1)
		}
		return
	}
	if o.mode != "bench" {
		fmt.Fprintln(os.Stderr, "imapload: -mode must be bench or count")
		os.Exit(2)
	}
	r, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapload:", err)
		os.Exit(1)
	}
	if *asJSON {
		err = json.NewEncoder(os.Stdout).Encode(r)
	} else {
		err = printTable(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapload:", err)
		os.Exit(1)
	}
}

// bench holds the main connection and what is known of the mailbox.
type bench struct {
	o     options
	c     *conn
	mbox  string // quoted
	corp  *corpus
	uids  []uint32 // in append order: uids[i] holds corp.msgs[i]
	index map[uint32]int
}

func run(o options) (*result, error) {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address: load is only ever sent to this machine", o.addr)
	}
	switch {
	case o.user == "" || o.pass == "":
		return nil, errors.New("-user and -pass are required")
	case o.fill < 2 || o.fill > 1_000_000:
		return nil, errors.New("-fill must be 2..1000000")
	case o.reps < 1 || o.reps > 100:
		return nil, errors.New("-reps must be 1..100")
	case o.fetches < 0 || o.fetches > 1_000_000:
		return nil, errors.New("-fetches must be 0..1000000")
	case o.idle < 0 || o.idle > 100_000:
		return nil, errors.New("-idle must be 0..100000")
	case o.idle > 0 && len(o.pids) == 0:
		return nil, errors.New("-idle needs the server's processes: -pid or -pids")
	case o.appendMode != "auto" && o.appendMode != "multi" && o.appendMode != "single":
		return nil, errors.New("-append must be auto, multi or single")
	}
	mbox, err := quote(o.mailbox)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.timeout)
	b := &bench{o: o, mbox: mbox, corp: generate(o.fill, o.seed)}
	if b.corp.fromKey == "" || len(b.corp.fromHits) == 0 || len(b.corp.textHits) == 0 {
		return nil, errors.New("the generated mailbox has no sender or word to search for; use a larger -fill")
	}
	if b.c, err = dial(o.addr, o.cmdTimeout, deadline); err != nil {
		return nil, err
	}
	defer b.c.close()
	if err := b.c.login(o.user, o.pass); err != nil {
		return nil, err
	}
	r := &result{Server: o.label, Messages: o.fill, AvgBytes: int(b.corp.bytes / int64(o.fill)), Reps: o.reps, BodyFetches: o.fetches, SamplesMs: map[string][]float64{}}
	var names []string
	for _, s := range []string{"fill", "ops", "idle", "expunge"} {
		if o.steps[s] {
			names = append(names, s)
		}
	}
	r.Steps = strings.Join(names, ",")

	n, err := b.status()
	if err != nil {
		return nil, err
	}
	if o.steps["fill"] {
		if n != 0 {
			return nil, fmt.Errorf("mailbox %s holds %d messages: imapload needs an empty one (a fresh account)", o.mailbox, n)
		}
		t0 := time.Now()
		if r.AppendMode, err = b.fill(); err != nil {
			return nil, fmt.Errorf("APPEND: %w", err)
		}
		r.FillSeconds = time.Since(t0).Seconds()
		r.FillMsgsPerSec = float64(o.fill) / r.FillSeconds
		if n, err := b.status(); err != nil {
			return nil, err
		} else if n != o.fill {
			return nil, fmt.Errorf("after appending %d messages the mailbox holds %d", o.fill, n)
		}
	} else if n != o.fill {
		return nil, fmt.Errorf("mailbox %s holds %d messages, want the %d that -steps fill appends with the same -fill and -seed", o.mailbox, n, o.fill)
	}
	if !o.steps["ops"] && (o.steps["idle"] || o.steps["expunge"]) {
		// Learn the UIDs (and check the mailbox) without timing it.
		if err := b.selectMailbox(); err != nil {
			return nil, fmt.Errorf("SELECT: %w", err)
		}
		if err := b.fetchAll(); err != nil {
			return nil, fmt.Errorf("UID FETCH: %w", err)
		}
	}
	if !o.steps["ops"] {
		r.Reps, r.BodyFetches = 0, 0
	}

	rng := rand.New(rand.NewPCG(o.seed, 2))
	sample := func(name string, f func() error) error {
		t := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.SamplesMs[name] = append(r.SamplesMs[name], ms(time.Since(t)))
		return nil
	}
	for rep := 0; rep < o.reps && o.steps["ops"]; rep++ {
		if err := sample("select", b.selectMailbox); err != nil {
			return nil, err
		}
		if err := sample("fetch_envelope", b.fetchAll); err != nil {
			return nil, err
		}
		picks := make([]uint32, o.fetches)
		for i := range picks {
			picks[i] = b.uids[rng.IntN(len(b.uids))]
		}
		if err := sample("fetch_body", func() error { return b.fetchBodies(picks) }); err != nil {
			return nil, err
		}
		from, _ := quote(b.corp.fromKey)
		if err := sample("search_from", func() error { return b.search("FROM "+from, b.corp.fromHits) }); err != nil {
			return nil, err
		}
		text, _ := quote(b.corp.textKey)
		if err := sample("search_text", func() error { return b.search("TEXT "+text, b.corp.textHits) }); err != nil {
			return nil, err
		}
		if err := sample("search_body", func() error { return b.search("BODY "+text, b.corp.textHits) }); err != nil {
			return nil, err
		}
		if err := sample("store_seen", func() error { return b.c.cmd(nil, `UID STORE 1:* +FLAGS.SILENT (\Seen)`) }); err != nil {
			return nil, err
		}
		if rep == 0 {
			if err := b.search("UNSEEN", nil); err != nil {
				return nil, fmt.Errorf("after STORE +FLAGS (\\Seen): %w", err)
			}
		}
		if err := sample("store_unseen", func() error { return b.c.cmd(nil, `UID STORE 1:* -FLAGS.SILENT (\Seen)`) }); err != nil {
			return nil, err
		}
		if rep == 0 {
			if err := b.search("SEEN", nil); err != nil {
				return nil, fmt.Errorf("after STORE -FLAGS (\\Seen): %w", err)
			}
		}
	}
	med := func(name string) float64 { return median(r.SamplesMs[name]) }
	r.SelectMs, r.FetchEnvelopeMs, r.FetchBodyMs = med("select"), med("fetch_envelope"), med("fetch_body")
	r.SearchFromMs, r.SearchTextMs, r.SearchBodyMs = med("search_from"), med("search_text"), med("search_body")
	r.SearchFromHits, r.SearchTextHits = len(b.corp.fromHits), len(b.corp.textHits)
	r.StoreSeenMs, r.StoreUnseenMs = med("store_seen"), med("store_unseen")

	if o.idle > 0 && o.steps["idle"] {
		if err := b.idleMemory(r, deadline); err != nil {
			return nil, fmt.Errorf("IDLE: %w", err)
		}
		if err := b.removeNew(); err != nil {
			return nil, fmt.Errorf("after IDLE: %w", err)
		}
	}

	if !o.steps["expunge"] {
		b.c.logout()
		return r, nil
	}
	half := len(b.uids) / 2
	t0 := time.Now()
	if err := b.c.cmd(nil, `UID STORE %d:%d +FLAGS.SILENT (\Deleted)`, b.uids[0], b.uids[half-1]); err != nil {
		return nil, fmt.Errorf("STORE \\Deleted: %w", err)
	}
	err = b.c.cmd(func(rec []byte) error {
		if _, ok := untaggedNumber(rec, "EXPUNGE"); ok {
			r.Expunged++
		}
		return nil
	}, "EXPUNGE")
	if err != nil {
		return nil, fmt.Errorf("EXPUNGE: %w", err)
	}
	r.ExpungeMs = ms(time.Since(t0))
	if r.Expunged != half {
		return nil, fmt.Errorf("EXPUNGE: %d messages expunged, want %d", r.Expunged, half)
	}
	b.c.logout()
	return r, nil
}

// status returns the number of messages in the mailbox.
func (b *bench) status() (int, error) {
	n := -1
	err := b.c.cmd(func(rec []byte) error {
		u := bytes.ToUpper(rec)
		if i := bytes.Index(u, []byte("(MESSAGES ")); i >= 0 && bytes.HasPrefix(u, []byte("* STATUS ")) {
			digits := u[i+len("(MESSAGES "):]
			digits = digits[:len(digits)-len(bytes.TrimLeft(digits, "0123456789"))]
			n, _ = strconv.Atoi(string(digits))
		}
		return nil
	}, "STATUS %s (MESSAGES)", b.mbox)
	if err != nil {
		return 0, fmt.Errorf("STATUS: %w", err)
	}
	if n < 0 {
		return 0, errors.New("STATUS: no MESSAGES in the answer")
	}
	return n, nil
}

// fill appends the generated messages: in MULTIAPPEND commands of up to 100 messages when
// the server has MULTIAPPEND, else one APPEND per message, pipelined when the server has
// LITERAL+ (non-synchronising literals) and one at a time otherwise. It returns the method.
func (b *bench) fill() (string, error) {
	c := b.c
	plus := c.caps["LITERAL+"]
	multi := c.caps["MULTIAPPEND"]
	switch b.o.appendMode {
	case "multi":
		if !multi {
			return "", errors.New("the server does not advertise MULTIAPPEND")
		}
	case "single":
		multi = false
	}
	mode := "APPEND"
	if multi {
		mode = "MULTIAPPEND"
	}
	if plus {
		mode += ", LITERAL+"
	} else {
		mode += ", synchronising literals"
	}
	// appendArgs writes one message's flags, date and literal; a synchronising literal waits
	// for the server's continuation.
	appendArgs := func(m *message) error {
		if m.flags != "" {
			c.w.WriteString(" " + m.flags)
		}
		fmt.Fprintf(c.w, ` "%s" {%d`, m.date.Format("02-Jan-2006 15:04:05 -0700"), len(m.raw))
		if plus {
			c.w.WriteString("+}\r\n")
		} else {
			c.w.WriteString("}\r\n")
			if err := c.w.Flush(); err != nil {
				return err
			}
			if err := c.continuation(); err != nil {
				return err
			}
		}
		_, err := c.w.Write(m.raw)
		return err
	}
	msgs := b.corp.msgs
	batch := 1
	if multi {
		batch = 100
	} else if plus {
		batch = 32 // APPEND commands in flight
	}
	for start := 0; start < len(msgs); start += batch {
		end := min(start+batch, len(msgs))
		c.arm()
		var tags []string
		for i := start; i < end; i++ {
			if multi && i > start {
				if err := appendArgs(&msgs[i]); err != nil {
					return "", err
				}
				continue
			}
			if i > start {
				c.w.WriteString("\r\n")
			}
			c.tag++
			tag := "A" + strconv.Itoa(c.tag)
			tags = append(tags, tag)
			fmt.Fprintf(c.w, "%s APPEND %s", tag, b.mbox)
			if err := appendArgs(&msgs[i]); err != nil {
				return "", err
			}
		}
		c.w.WriteString("\r\n")
		if err := c.w.Flush(); err != nil {
			return "", err
		}
		if err := c.wait(nil, tags...); err != nil {
			return "", fmt.Errorf("messages %d to %d: %w", start+1, end, err)
		}
	}
	return mode, nil
}

// selectMailbox selects the mailbox, which must hold every message appended.
func (b *bench) selectMailbox() error {
	exists := -1
	err := b.c.cmd(func(rec []byte) error {
		if n, ok := untaggedNumber(rec, "EXISTS"); ok {
			exists = n
		}
		return nil
	}, "SELECT %s", b.mbox)
	if err != nil {
		return err
	}
	if exists != len(b.corp.msgs) {
		return fmt.Errorf("EXISTS %d, want %d", exists, len(b.corp.msgs))
	}
	return nil
}

// fetchAll lists every message as a client fills its message list, and checks that every
// message is there with every item asked for. The first time it learns the UIDs and checks
// RFC822.SIZE against the generated messages.
func (b *bench) fetchAll() error {
	var uids []uint32
	sizes := map[uint32]int{}
	err := b.c.cmd(func(rec []byte) error {
		var uid uint32
		size, items := -1, 0
		ok, err := fetchItems(rec, func(name string, v []byte) error {
			switch name {
			case "UID":
				n, err := strconv.ParseUint(string(v), 10, 32)
				if err != nil {
					return fmt.Errorf("bad UID %q", v)
				}
				uid = uint32(n)
			case "RFC822.SIZE":
				n, err := strconv.Atoi(string(v))
				if err != nil {
					return fmt.Errorf("bad RFC822.SIZE %q", v)
				}
				size = n
				items++
			case "FLAGS", "ENVELOPE", "INTERNALDATE":
				items++
			}
			return nil
		})
		if !ok || err != nil {
			return err
		}
		if size < 0 {
			return nil // an unsolicited update, such as FLAGS alone
		}
		if items != 4 || uid == 0 {
			return fmt.Errorf("FETCH response without UID, FLAGS, ENVELOPE, RFC822.SIZE and INTERNALDATE: %q", trim(rec))
		}
		if _, dup := sizes[uid]; dup {
			return fmt.Errorf("UID %d returned twice", uid)
		}
		sizes[uid] = size
		uids = append(uids, uid)
		return nil
	}, "UID FETCH 1:* (FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)")
	if err != nil {
		return err
	}
	if len(uids) != len(b.corp.msgs) {
		return fmt.Errorf("%d messages returned, want %d", len(uids), len(b.corp.msgs))
	}
	slices.Sort(uids)
	if b.uids == nil {
		b.uids = uids
		b.index = make(map[uint32]int, len(uids))
		for i, u := range uids {
			b.index[u] = i
			if want := len(b.corp.msgs[i].raw); sizes[u] != want {
				return fmt.Errorf("UID %d (message %d): RFC822.SIZE %d, want %d", u, i+1, sizes[u], want)
			}
		}
		return nil
	}
	if !slices.Equal(uids, b.uids) {
		return errors.New("the UIDs changed between repetitions")
	}
	return nil
}

// fetchBodies fetches the whole of each message in uids, one UID FETCH per message, 50
// commands in flight, and checks the length of every body.
func (b *bench) fetchBodies(uids []uint32) error {
	const window = 50
	got := 0
	for start := 0; start < len(uids); start += window {
		end := min(start+window, len(uids))
		b.c.arm()
		tags := make([]string, 0, window)
		for _, u := range uids[start:end] {
			tags = append(tags, b.c.send("UID FETCH %d BODY.PEEK[]", u))
		}
		if err := b.c.w.Flush(); err != nil {
			return err
		}
		err := b.c.wait(func(rec []byte) error {
			var uid uint32
			size := -1
			ok, err := fetchItems(rec, func(name string, v []byte) error {
				switch name {
				case "UID":
					n, err := strconv.ParseUint(string(v), 10, 32)
					if err != nil {
						return fmt.Errorf("bad UID %q", v)
					}
					uid = uint32(n)
				case "BODY[]":
					n, err := stringLen(v)
					if err != nil {
						return err
					}
					size = n
				}
				return nil
			})
			if !ok || err != nil || size < 0 {
				return err
			}
			i, known := b.index[uid]
			if !known {
				return fmt.Errorf("BODY[] of unknown UID %d", uid)
			}
			if want := len(b.corp.msgs[i].raw); size != want {
				return fmt.Errorf("UID %d: BODY[] of %d bytes, want %d", uid, size, want)
			}
			got++
			return nil
		}, tags...)
		if err != nil {
			return err
		}
	}
	if got != len(uids) {
		return fmt.Errorf("%d bodies returned, want %d", got, len(uids))
	}
	return nil
}

// search runs UID SEARCH with criteria and checks that the answer is exactly the messages
// whose indexes are want.
func (b *bench) search(criteria string, want []int) error {
	var hits []uint32
	err := b.c.cmd(func(rec []byte) error {
		var err error
		hits, _, err = searchHits(rec, hits)
		return err
	}, "UID SEARCH %s", criteria)
	if err != nil {
		return err
	}
	slices.Sort(hits)
	expected := make([]uint32, len(want))
	for i, w := range want {
		expected[i] = b.uids[w]
	}
	slices.Sort(expected)
	if !slices.Equal(hits, expected) {
		return fmt.Errorf("SEARCH %s: %d hits, want %d (%s)", criteria, len(hits), len(expected), diff(hits, expected))
	}
	return nil
}

// diff describes the first difference between two sorted UID lists.
func diff(got, want []uint32) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("UID %d missing", want[i])
		case i >= len(want) || got[i] < want[i]:
			return fmt.Sprintf("UID %d is not a match", got[i])
		case got[i] > want[i]:
			return fmt.Sprintf("UID %d missing", want[i])
		}
	}
	return "same"
}

// idleMemory opens o.idle connections that log in, select the mailbox and IDLE, and records
// how much the server's memory grew. It waits o.settle before both readings, so that memory
// a garbage-collected server has yet to return after the timed operations (before) or after
// the burst of logins (after) weighs the same on both sides.
func (b *bench) idleMemory(r *result, deadline time.Time) error {
	o := b.o
	if time.Until(deadline) < 2*o.settle {
		return errors.New("out of time")
	}
	time.Sleep(o.settle)
	before, err := memory(o.pids, o.children)
	if err != nil {
		return err
	}
	conns := make([]*conn, o.idle)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.w.WriteString("DONE\r\n")
				c.w.Flush()
				c.close()
			}
		}
	}()
	var next atomic.Int64
	var failed atomic.Bool
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < min(16, o.idle); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= o.idle {
					return
				}
				c, err := openIdle(o, b.mbox, deadline)
				if err != nil {
					failed.Store(true)
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i+1, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	r.IdleOpenSeconds = time.Since(t0).Seconds()
	if time.Until(deadline) < o.settle {
		return errors.New("out of time")
	}
	time.Sleep(o.settle)
	after, err := memory(o.pids, o.children)
	if err != nil {
		return err
	}
	r.IdleConns = o.idle
	r.IdleSettleSecs = o.settle.Seconds()
	r.IdleRSSBefore, r.IdleRSSAfter = before.RSS, after.RSS
	r.IdleRSSPerConn = (after.RSS - before.RSS) / int64(o.idle)
	if before.PSS >= 0 && after.PSS >= 0 {
		r.IdlePSSBefore, r.IdlePSSAfter = before.PSS, after.PSS
		r.IdlePSSPerConn = (after.PSS - before.PSS) / int64(o.idle)
	}
	r.IdleProcsBefore, r.IdleProcsAfter = before.Procs, after.Procs
	return b.notify(r, conns)
}

// openIdle opens one connection and leaves it in IDLE on the mailbox.
func openIdle(o options, mbox string, deadline time.Time) (*conn, error) {
	c, err := dial(o.addr, o.cmdTimeout, deadline)
	if err != nil {
		return nil, err
	}
	err = c.login(o.user, o.pass)
	if err == nil {
		err = c.cmd(nil, "SELECT %s", mbox)
	}
	if err == nil {
		c.send("IDLE")
		if err = c.w.Flush(); err == nil {
			err = c.continuation()
		}
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// logout ends the session politely, without waiting long for the server.
func (c *conn) logout() {
	c.timeout = 5 * time.Second
	c.arm()
	tag := c.send("LOGOUT")
	if c.w.Flush() != nil {
		return
	}
	for i := 0; i < 10; i++ {
		rec, err := c.readRecord()
		if err != nil || bytes.HasPrefix(rec, []byte(tag+" ")) {
			return
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printTable(r *result) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "%s: %d messages, %d bytes on average, medians of %d\t\n", orDefault(r.Server, "server"), r.Messages, r.AvgBytes, r.Reps)
	fmt.Fprintf(w, "fill (%s)\t%.1f s\t%.0f msg/s\t\n", r.AppendMode, r.FillSeconds, r.FillMsgsPerSec)
	fmt.Fprintf(w, "SELECT\t%.1f ms\t\t\n", r.SelectMs)
	fmt.Fprintf(w, "UID FETCH 1:* (FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)\t%.1f ms\t\t\n", r.FetchEnvelopeMs)
	fmt.Fprintf(w, "%d x UID FETCH n BODY.PEEK[]\t%.1f ms\t\t\n", r.BodyFetches, r.FetchBodyMs)
	fmt.Fprintf(w, "UID SEARCH FROM\t%.1f ms\t%d hits\t\n", r.SearchFromMs, r.SearchFromHits)
	fmt.Fprintf(w, "UID SEARCH TEXT\t%.1f ms\t%d hits\t\n", r.SearchTextMs, r.SearchTextHits)
	fmt.Fprintf(w, "UID SEARCH BODY\t%.1f ms\t%d hits\t\n", r.SearchBodyMs, r.SearchTextHits)
	fmt.Fprintf(w, "UID STORE 1:* +FLAGS.SILENT (\\Seen)\t%.1f ms\t\t\n", r.StoreSeenMs)
	fmt.Fprintf(w, "UID STORE 1:* -FLAGS.SILENT (\\Seen)\t%.1f ms\t\t\n", r.StoreUnseenMs)
	if r.Expunged > 0 {
		fmt.Fprintf(w, "STORE \\Deleted + EXPUNGE of half (once)\t%.1f ms\t%d expunged\t\n", r.ExpungeMs, r.Expunged)
	}
	if r.IdleConns > 0 {
		fmt.Fprintf(w, "%d IDLE connections: RSS per connection\t%d B\t%d processes\t\n", r.IdleConns, r.IdleRSSPerConn, r.IdleProcsAfter)
		if r.IdlePSSPerConn != 0 {
			fmt.Fprintf(w, "PSS per connection\t%d B\t\t\n", r.IdlePSSPerConn)
		}
		fmt.Fprintf(w, "new message (%s) seen in IDLE after, p50 / p99\t%.1f ms\t%.1f ms\t\n", r.IdleNotifyVia, r.IdleNotifyP50Ms, r.IdleNotifyP99Ms)
	}
	return w.Flush()
}

func orDefault(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
