package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/db/dbtest"
)

// Two nodes share one PostgreSQL database and one blob directory: a client idling on node A
// hears of a message delivered through node B, by LISTEN/NOTIFY.
func TestTwoNodesIdleAcrossNodes(t *testing.T) {
	admin := os.Getenv("POSTA_TEST_POSTGRES_DSN")
	if admin == "" {
		t.Skip("POSTA_TEST_POSTGRES_DSN is not set")
	}
	dsn := dbtest.NewPostgresDB(t, admin)
	shared := filepath.Join(t.TempDir(), "blobs")
	a := newInstall(t, "--database", dsn)
	b := newInstall(t, "--database", dsn)
	for _, in := range []*install{a, b} {
		cfg, err := os.ReadFile(in.config)
		if err != nil {
			t.Fatal(err)
		}
		out := regexp.MustCompile(`(?m)^\[blob\]\n((?:#.*\n)*)dir = .*$`).ReplaceAllString(string(cfg), "[blob]\n${1}dir = \""+shared+"\"")
		if out == string(cfg) {
			t.Fatalf("no blob dir in %s", cfg)
		}
		os.WriteFile(in.config, []byte(out), 0o600)
	}
	mailSetup(t, a)
	a.start()
	b.start()
	c, err := tls.Dial("tcp", a.addr(portIMAPS), a.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	expect := func(prefix string) string {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
	}
	expect("* OK")
	fmt.Fprintf(c, "a LOGIN alice@acme.test %s\r\nb SELECT INBOX\r\nc IDLE\r\n", testPW)
	expect("a OK")
	expect("b OK")
	expect("+ ")
	start := time.Now()
	if err := sendPlain(b.addr(portSMTP), "x@example.org", "alice@acme.test", "Subject: across nodes\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if l := expect("* "); !strings.HasSuffix(strings.TrimSpace(l), "EXISTS") {
		t.Fatalf("in IDLE got %q", l)
	}
	t.Logf("EXISTS on node A %v after node B answered 250 (%v after the start of the SMTP session)", time.Since(sent), time.Since(start))
	fmt.Fprintf(c, "DONE\r\nd FETCH 1 BODY[HEADER.FIELDS (SUBJECT)]\r\n")
	expect("c OK")
	if l := expect("Subject:"); !strings.Contains(l, "across nodes") {
		t.Fatalf("fetched %q", l)
	}
}
