// Command smtpload is posta's SMTP load tool: it sends a bounded number of messages over a
// bounded number of concurrent SMTP connections to a server on loopback, and reports the rate
// and the latency of each message (from MAIL FROM to the final 250). With -auth it is a
// submission load: each connection logs in (AUTH PLAIN, once per connection) as one of the
// given accounts and sends as that account. It speaks only the protocol, so it measures any
// server the same way.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Server     string  `json:"server"`
	Sent       int     `json:"sent"`
	Auth       bool    `json:"auth"`
	Failed     int     `json:"failed"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	AvgBytes   int     `json:"avg_bytes"`
	FirstError string  `json:"first_error,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:25", "SMTP server (loopback only)")
	from := flag.String("from", "load@example.org", "envelope sender")
	to := flag.String("to", "", "recipients, comma separated; each message goes to one, in turn (required)")
	n := flag.Int("n", 1000, "messages to send")
	c := flag.Int("c", 8, "concurrent connections")
	size := flag.Int("size", 8192, "average message size in bytes")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	label := flag.String("label", "", "name of the server in the report")
	authList := flag.String("auth", "", "submission: accounts as user:password, comma separated; connection i logs in as account i mod their number and sends from it")
	flag.Parse()
	var auths []account
	for _, a := range strings.Split(*authList, ",") {
		if a == "" {
			continue
		}
		u, p, ok := strings.Cut(a, ":")
		if !ok || u == "" || p == "" {
			fmt.Fprintln(os.Stderr, "smtpload: -auth wants user:password pairs")
			os.Exit(2)
		}
		auths = append(auths, account{u, p})
	}
	if err := run(*addr, *from, strings.Split(*to, ","), auths, *n, *c, *size, *timeout, *label); err != nil {
		fmt.Fprintln(os.Stderr, "smtpload:", err)
		os.Exit(1)
	}
}

// account is a login for submission.
type account struct{ user, pass string }

func run(addr, from string, rcpts []string, auths []account, n, c, size int, timeout time.Duration, label string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: load is only ever sent to this machine", addr)
	}
	if len(rcpts) == 0 || rcpts[0] == "" {
		return errors.New("-to is required")
	}
	if n <= 0 || c <= 0 || n > 1_000_000 || c > 1000 {
		return errors.New("-n must be 1..1000000 and -c 1..1000")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msgs := corpus(64, size)
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var failed int
	var firstErr error
	var bytesSent atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		var login *account
		sender := from
		if len(auths) > 0 {
			login = &auths[w%len(auths)]
			sender = login.user
		}
		go func() {
			defer wg.Done()
			var conn *client
			defer func() {
				if conn != nil {
					conn.quit()
				}
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if conn == nil {
					var err error
					if conn, err = dial(addr, login); err != nil {
						mu.Lock()
						failed++
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						time.Sleep(100 * time.Millisecond)
						continue
					}
				}
				msg := msgs[i%len(msgs)]
				if login != nil { // a submission server checks the From field too
					msg = strings.Replace(msg, "From: Load <load@example.org>", "From: <"+sender+">", 1)
				}
				body := fmt.Sprintf("Message-ID: <load-%d-%d@example.org>\r\n%s", start.UnixNano(), i, msg)
				t0 := time.Now()
				err := conn.send(sender, rcpts[i%len(rcpts)], body)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					conn.close()
					conn = nil
				} else {
					lat = append(lat, d)
					bytesSent.Add(int64(len(body)))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	r := result{Server: label, Auth: len(auths) > 0, Sent: len(lat), Failed: failed, Seconds: elapsed, MsgsPerSec: float64(len(lat)) / elapsed, P50ms: pct(0.50), P99ms: pct(0.99)}
	if len(lat) > 0 {
		r.AvgBytes = int(bytesSent.Load()) / len(lat)
	}
	if firstErr != nil {
		r.FirstError = firstErr.Error()
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(r); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d messages failed, first: %v", failed, firstErr)
	}
	return nil
}

type client struct {
	conn net.Conn
	tp   *textproto.Conn
}

func dial(addr string, login *account) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &client{conn: conn, tp: textproto.NewConn(conn)}
	if _, _, err := c.tp.ReadResponse(220); err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.cmd(250, "EHLO load.example.org"); err != nil {
		conn.Close()
		return nil, err
	}
	if login != nil {
		token := base64.StdEncoding.EncodeToString([]byte("\x00" + login.user + "\x00" + login.pass))
		if err := c.cmd(235, "AUTH PLAIN %s", token); err != nil {
			conn.Close()
			return nil, fmt.Errorf("AUTH PLAIN as %s: %w", login.user, err)
		}
	}
	return c, nil
}

func (c *client) cmd(code int, format string, args ...any) error {
	c.conn.SetDeadline(time.Now().Add(60 * time.Second))
	id, err := c.tp.Cmd(format, args...)
	if err != nil {
		return err
	}
	c.tp.StartResponse(id)
	defer c.tp.EndResponse(id)
	_, _, err = c.tp.ReadResponse(code)
	return err
}

// send transmits one message; PIPELINING is used for MAIL, RCPT and DATA.
func (c *client) send(from, to, msg string) error {
	c.conn.SetDeadline(time.Now().Add(60 * time.Second))
	w := c.tp.Writer.W
	fmt.Fprintf(w, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", from, to)
	if err := w.Flush(); err != nil {
		return err
	}
	for _, code := range []int{250, 250, 354} {
		if _, _, err := c.tp.ReadResponse(code); err != nil {
			c.cmd(250, "RSET")
			return err
		}
	}
	dw := c.tp.DotWriter()
	if _, err := dw.Write([]byte(msg)); err != nil {
		return err
	}
	if err := dw.Close(); err != nil {
		return err
	}
	_, _, err := c.tp.ReadResponse(250)
	return err
}

func (c *client) quit() {
	c.cmd(221, "QUIT")
	c.close()
}

func (c *client) close() { c.conn.Close() }

// corpus builds k messages averaging size bytes: plain text, multipart/alternative, and
// multipart/mixed with a base64 attachment.
func corpus(k, size int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("posta mail server lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor città perché")
	text := func(n int) string {
		var b strings.Builder
		col := 0
		for b.Len() < n {
			w := words[r.IntN(len(words))]
			b.WriteString(w)
			col += len(w) + 1
			if col > 70 {
				b.WriteString("\r\n")
				col = 0
			} else {
				b.WriteByte(' ')
			}
		}
		return b.String()
	}
	out := make([]string, k)
	for i := range out {
		n := size/2 + r.IntN(size) // uniform in [size/2, 3size/2): average size
		head := fmt.Sprintf("From: Load <load@example.org>\r\nTo: you@example.test\r\nSubject: load test %d\r\nDate: %s\r\nMIME-Version: 1.0\r\n", i, time.Now().Format(time.RFC1123Z))
		switch i % 3 {
		case 0:
			out[i] = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text(n) + "\r\n"
		case 1:
			t := text(n / 2)
			out[i] = head + "Content-Type: multipart/alternative; boundary=ALT\r\n\r\n--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + t +
				"\r\n--ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + t + "</p>\r\n--ALT--\r\n"
		default:
			att := make([]byte, n*3/4/2)
			for j := range att {
				att[j] = byte(r.IntN(256))
			}
			out[i] = head + "Content-Type: multipart/mixed; boundary=MIX\r\n\r\n--MIX\r\nContent-Type: text/plain\r\n\r\n" + text(n/3) +
				"\r\n--MIX\r\nContent-Type: application/octet-stream; name=data.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64Lines(att) + "--MIX--\r\n"
		}
	}
	return out
}
