package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// notify delivers one message while every connection of conns is in IDLE on the mailbox, and
// records how long each connection waited for its "* n EXISTS": over SMTP to o.user when
// -notify-smtp is set (the path of real mail: a server that queues first is measured with its
// queue), else with an APPEND on the main connection. Every connection must see the message.
func (b *bench) notify(r *result, conns []*conn) error {
	o := b.o
	seen := make([]time.Time, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		c.nc.SetDeadline(time.Now().Add(o.notifyTimeout))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 1000; k++ {
				rec, err := c.readRecord()
				if err != nil {
					errs[i] = err
					return
				}
				if n, ok := untaggedNumber(rec, "EXISTS"); ok && n > len(b.uids) {
					seen[i] = time.Now()
					return
				}
			}
			errs[i] = errors.New("no EXISTS in 1000 responses")
		}()
	}
	msg := fmt.Sprintf("From: Notify <notify@example.org>\r\nTo: <%s>\r\nSubject: new mail for IDLE\r\nMessage-ID: <idle-%d@example.org>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOne new message for every IDLE connection.\r\n",
		o.user, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z))
	t0 := time.Now()
	var err error
	if o.notifySMTP != "" {
		r.IdleNotifyVia = "SMTP"
		err = deliverSMTP(o.notifySMTP, "notify@example.org", o.user, msg)
	} else {
		r.IdleNotifyVia = "APPEND"
		err = b.appendOne([]byte(msg))
	}
	if err != nil {
		for _, c := range conns {
			c.nc.SetDeadline(time.Now()) // end the readers
		}
		wg.Wait()
		return fmt.Errorf("delivering the new message: %w", err)
	}
	wg.Wait()
	var lat []float64
	missed := 0
	var firstErr error
	for i := range conns {
		if seen[i].IsZero() {
			missed++
			if firstErr == nil {
				firstErr = errs[i]
			}
			continue
		}
		lat = append(lat, ms(seen[i].Sub(t0)))
	}
	if missed > 0 {
		return fmt.Errorf("%d of %d IDLE connections did not see the new message within %s: %v", missed, len(conns), o.notifyTimeout, firstErr)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	r.IdleNotifyP50Ms, r.IdleNotifyP99Ms, r.IdleNotifyMaxMs = pct(0.50), pct(0.99), lat[len(lat)-1]
	return nil
}

// appendOne appends raw to the mailbox on the main connection.
func (b *bench) appendOne(raw []byte) error {
	c := b.c
	c.arm()
	c.tag++
	tag := "A" + strconv.Itoa(c.tag)
	if c.caps["LITERAL+"] {
		fmt.Fprintf(c.w, "%s APPEND %s {%d+}\r\n", tag, b.mbox, len(raw))
	} else {
		fmt.Fprintf(c.w, "%s APPEND %s {%d}\r\n", tag, b.mbox, len(raw))
		if err := c.w.Flush(); err != nil {
			return err
		}
		if err := c.continuation(); err != nil {
			return err
		}
	}
	c.w.Write(raw)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.wait(nil, tag)
}

// removeNew expunges what arrived after the generated messages (the IDLE test's message),
// so that the mailbox holds the generated messages again.
func (b *bench) removeNew() error {
	last := b.uids[len(b.uids)-1]
	var extra []string
	// A server may show this session the new message only at a NOOP: ask until it does.
	for try := 0; try < 100 && len(extra) == 0; try++ {
		if try > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if err := b.c.cmd(nil, "NOOP"); err != nil {
			return fmt.Errorf("NOOP: %w", err)
		}
		var hits []uint32
		err := b.c.cmd(func(rec []byte) error {
			var err error
			hits, _, err = searchHits(rec, hits)
			return err
		}, "UID SEARCH UID %d:*", last+1)
		if err != nil {
			return fmt.Errorf("UID SEARCH: %w", err)
		}
		for _, h := range hits {
			if h > last { // n:* includes the last message when nothing is above it
				extra = append(extra, strconv.FormatUint(uint64(h), 10))
			}
		}
	}
	if len(extra) == 0 {
		return errors.New("the new message is not in the mailbox")
	}
	for _, u := range extra {
		if err := b.c.cmd(nil, `UID STORE %s +FLAGS.SILENT (\Deleted)`, u); err != nil {
			return fmt.Errorf("STORE: %w", err)
		}
	}
	expunged := 0
	err := b.c.cmd(func(rec []byte) error {
		if _, ok := untaggedNumber(rec, "EXPUNGE"); ok {
			expunged++
		}
		return nil
	}, "EXPUNGE")
	if err != nil {
		return fmt.Errorf("EXPUNGE: %w", err)
	}
	if expunged != len(extra) {
		return fmt.Errorf("EXPUNGE removed %d messages, want %d", expunged, len(extra))
	}
	return nil
}

// deliverSMTP sends one message over SMTP (no TLS, no AUTH: a delivery from the outside).
func deliverSMTP(addr, from, to, msg string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(time.Minute))
	tp := textproto.NewConn(nc)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return err
	}
	step := func(code int, format string, args ...any) error {
		if err := tp.PrintfLine(format, args...); err != nil {
			return err
		}
		_, _, err := tp.ReadResponse(code)
		return err
	}
	for _, s := range []struct {
		code int
		line string
	}{{250, "EHLO load.example.org"}, {250, "MAIL FROM:<" + from + ">"}, {250, "RCPT TO:<" + to + ">"}, {354, "DATA"}} {
		if err := step(s.code, "%s", s.line); err != nil {
			return fmt.Errorf("%s: %w", s.line, err)
		}
	}
	dw := tp.DotWriter()
	if _, err := dw.Write([]byte(msg)); err != nil {
		return err
	}
	if err := dw.Close(); err != nil {
		return err
	}
	if _, _, err := tp.ReadResponse(250); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	step(221, "QUIT")
	return nil
}

// countResult is the report of -mode count.
type countResult struct {
	Server   string  `json:"server"`
	Accounts int     `json:"accounts"`
	Messages int     `json:"messages"`
	Expect   int     `json:"expect,omitempty"`
	WaitS    float64 `json:"wait_s"`
}

// runCount logs in to every account, then asks STATUS INBOX (MESSAGES) of each until their
// sum reaches o.expect (at once when it is 0), and prints the sum as one JSON line.
func runCount(o options) error {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: load is only ever sent to this machine", o.addr)
	}
	users := o.users
	if len(users) == 0 && o.user != "" {
		users = []string{o.user}
	}
	if len(users) == 0 || o.pass == "" || len(users) > 10_000 {
		return errors.New("count mode needs -users (1..10000 of them) or -user, and -pass")
	}
	deadline := time.Now().Add(o.timeout)
	benches := make([]*bench, len(users))
	for i, u := range users {
		c, err := dial(o.addr, o.cmdTimeout, deadline)
		if err != nil {
			return err
		}
		defer c.close()
		if err := c.login(u, o.pass); err != nil {
			return fmt.Errorf("%s: %w", u, err)
		}
		benches[i] = &bench{o: o, c: c, mbox: `"INBOX"`}
	}
	t0 := time.Now()
	res := countResult{Server: o.label, Accounts: len(users), Expect: o.expect}
	for {
		total := 0
		for i, b := range benches {
			n, err := b.status()
			if err != nil {
				return fmt.Errorf("%s: %w", users[i], err)
			}
			total += n
		}
		res.Messages = total
		if total >= o.expect {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d messages in %d accounts after %s, want %d: messages lost", total, len(users), o.timeout, o.expect)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.WaitS = time.Since(t0).Seconds()
	for _, b := range benches {
		b.c.logout()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}
