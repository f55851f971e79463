// Command pop3load is posta's POP3 benchmark: over a bounded number of concurrent
// connections it logs in to accounts that already hold mail (USER and PASS), lists them and
// retrieves a share of a fixed total of messages with RETR, one command at a time as a mail
// client does, without deleting anything. It checks that every account holds its share and
// that every message arrives whole (the size that LIST announced), and reports the rate and
// the latency of each RETR. It speaks only the protocol, so it measures any server the same
// way, and it only ever connects to this machine.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type result struct {
	Server       string  `json:"server"`
	Accounts     int     `json:"accounts"`
	Retrieved    int     `json:"retrieved"`
	Bytes        int64   `json:"bytes"`
	Seconds      float64 `json:"seconds"`
	MsgsPerSec   float64 `json:"msgs_per_s"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	SizeMismatch int     `json:"size_mismatch"` // LIST said another size than RETR gave
}

func main() {
	addr := flag.String("addr", "127.0.0.1:110", "POP3 server, plain TCP (loopback only)")
	users := flag.String("users", "", "accounts, comma separated, all with -pass (required)")
	pass := flag.String("pass", "", "password (required)")
	n := flag.Int("n", 5000, "messages to retrieve in all, shared evenly among the accounts")
	c := flag.Int("c", 8, "concurrent connections")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	label := flag.String("label", "", "name of the server in the report")
	flag.Parse()
	var accounts []string
	for _, u := range strings.Split(*users, ",") {
		if u = strings.TrimSpace(u); u != "" {
			accounts = append(accounts, u)
		}
	}
	r, err := run(*addr, accounts, *pass, *n, *c, *timeout, *label)
	if r != nil {
		json.NewEncoder(os.Stdout).Encode(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pop3load:", err)
		os.Exit(1)
	}
}

func run(addr string, accounts []string, pass string, n, c int, timeout time.Duration, label string) (*result, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s is not a loopback address: load is only ever sent to this machine", addr)
	}
	switch {
	case len(accounts) == 0 || pass == "":
		return nil, errors.New("-users and -pass are required")
	case n < 1 || n > 1_000_000 || c < 1 || c > 1000:
		return nil, errors.New("-n must be 1..1000000 and -c 1..1000")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	jobs := make(chan int, len(accounts))
	for i := range accounts {
		jobs <- i
	}
	close(jobs)
	var mu sync.Mutex
	var lat []time.Duration
	r := &result{Server: label, Accounts: len(accounts)}
	var firstErr error
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < min(c, len(accounts)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				share := n / len(accounts)
				if i < n%len(accounts) {
					share++
				}
				if share == 0 {
					continue
				}
				l, bytes, mismatch, err := retrieve(ctx, addr, accounts[i], pass, share)
				mu.Lock()
				lat = append(lat, l...)
				r.Bytes += bytes
				r.SizeMismatch += mismatch
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", accounts[i], err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Retrieved = len(lat)
	r.MsgsPerSec = float64(len(lat)) / r.Seconds
	slices.Sort(lat)
	if len(lat) > 0 {
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		r.P50ms, r.P99ms = pct(0.50), pct(0.99)
	}
	if firstErr == nil && r.Retrieved != n {
		firstErr = fmt.Errorf("%d messages retrieved, want %d", r.Retrieved, n)
	}
	return r, firstErr
}

// retrieve logs in to one account and retrieves its first k messages.
func retrieve(ctx context.Context, addr, user, pass string, k int) (lat []time.Duration, total int64, mismatch int, err error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, 0, 0, err
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	c := &conn{r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriter(nc)}
	if _, err := c.status(); err != nil {
		return nil, 0, 0, fmt.Errorf("greeting: %w", err)
	}
	if _, err := c.cmd("USER " + user); err != nil {
		return nil, 0, 0, fmt.Errorf("USER: %w", err)
	}
	if _, err := c.cmd("PASS " + pass); err != nil {
		return nil, 0, 0, fmt.Errorf("PASS: %w", err)
	}
	if _, err := c.cmd("LIST"); err != nil {
		return nil, 0, 0, fmt.Errorf("LIST: %w", err)
	}
	list, err := c.multiline()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("LIST: %w", err)
	}
	sizes := map[int]int{}
	for _, line := range bytes.Split(bytes.TrimSuffix(list, []byte("\r\n")), []byte("\r\n")) {
		f := strings.Fields(string(line))
		if len(f) != 2 {
			continue
		}
		num, err1 := strconv.Atoi(f[0])
		size, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, 0, 0, fmt.Errorf("bad LIST line %q", line)
		}
		sizes[num] = size
	}
	if len(sizes) < k {
		return nil, 0, 0, fmt.Errorf("%d messages in the mailbox, want at least %d", len(sizes), k)
	}
	for i := 1; i <= k; i++ {
		if ctx.Err() != nil {
			return lat, total, mismatch, ctx.Err()
		}
		t0 := time.Now()
		if _, err := c.cmd("RETR " + strconv.Itoa(i)); err != nil {
			return lat, total, mismatch, fmt.Errorf("RETR %d: %w", i, err)
		}
		msg, err := c.multiline()
		if err != nil {
			return lat, total, mismatch, fmt.Errorf("RETR %d: %w", i, err)
		}
		lat = append(lat, time.Since(t0))
		if len(msg) == 0 {
			return lat, total, mismatch, fmt.Errorf("RETR %d: empty message", i)
		}
		total += int64(len(msg))
		if len(msg) != sizes[i] {
			mismatch++
		}
	}
	c.cmd("QUIT")
	return lat, total, mismatch, nil
}

type conn struct {
	r *bufio.Reader
	w *bufio.Writer
}

// cmd sends one command and reads its status line, which must be +OK.
func (c *conn) cmd(line string) (string, error) {
	c.w.WriteString(line + "\r\n")
	if err := c.w.Flush(); err != nil {
		return "", err
	}
	return c.status()
}

func (c *conn) status() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(line, "+OK") {
		return "", fmt.Errorf("%q", strings.TrimRight(line, "\r\n"))
	}
	return line, nil
}

// multiline reads a multi-line response up to its terminating ".", removes the dot-stuffing
// and returns the lines, each with its CRLF.
func (c *conn) multiline() ([]byte, error) {
	var out []byte
	for i := 0; i < 10_000_000; i++ {
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			out = append(out, line...)
			continue
		}
		if err != nil {
			return nil, err
		}
		if string(line) == ".\r\n" {
			return out, nil
		}
		if len(line) > 0 && line[0] == '.' && (len(out) == 0 || out[len(out)-1] == '\n') {
			line = line[1:]
		}
		out = append(out, line...)
		if len(out) > 256<<20 {
			return nil, errors.New("response longer than 256 MiB")
		}
	}
	return nil, errors.New("response of too many lines")
}
