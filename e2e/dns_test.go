package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/resolver/dnstest"
)

// editConfig replaces text in the installation's posta.toml; each old string must occur once.
func editConfig(t *testing.T, in *install, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(in.config)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		if strings.Count(s, pairs[i]) != 1 {
			t.Fatalf("posta.toml holds %q %d times, want once:\n%s", pairs[i], strings.Count(s, pairs[i]), s)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	if err := os.WriteFile(in.config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// metric returns the value of an unlabelled metric on the installation's /metrics.
func metric(t *testing.T, in *install, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + in.addr(portHTTP) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics lacks %s", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// The [dns] section points posta's resolver at a test DNS server on loopback: A finds B only
// through the MX and A records that server publishes for far.test, and /metrics shows the
// resolver's counters. B runs with [inbound] dnsbl set (a loopback client is exempt, so it
// accepts the message), and a bad [dns] or [inbound] value stops posta from starting with the
// key named.
func TestDNSConfiguration(t *testing.T) {
	a := newInstall(t)
	b := newInstall(t)
	mailSetup(t, a)
	pw := writeFile(t, b.dir, "pw", testPW)
	b.mustRun("tenant", "create", "Far", "--contact", "it@far.test", "--contract", "payg")
	b.mustRun("domain", "add", "far.test", "--tenant", "Far")
	b.mustRun("account", "add", "fabio@far.test", "--cos", "Business Mail 100 MB", "--password-file", pw)
	zone := dnstest.Start(t, `
test.          300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
far.test.      300 IN MX  10 mx.far.test.
mx.far.test.   300 IN A   127.0.0.1
`)
	// Without the harness's catch-all route, A looks up far.test's MX; B's MX port stands
	// for port 25.
	editConfig(t, a,
		"\n[outbound.routes]\n\"*\" = \"127.0.0.1:9\"\n", "\n",
		"upstreams = []", fmt.Sprintf("upstreams = [%q]", zone.Addr),
		"timeout = \"2s\"", "timeout = \"500ms\"",
		"port = 25", fmt.Sprintf("port = %d", b.offset+portSMTP))
	editConfig(t, b,
		"upstreams = []", fmt.Sprintf("upstreams = [%q]", zone.Addr),
		"dnsbl = []", `dnsbl = ["bl.test", "zen.spamhaus.org"]`,
		`dnsbl_action = "reject"`, `dnsbl_action = "junk"`)
	a.start()
	b.start()
	msg := "From: alice@acme.test\r\nTo: fabio@far.test\r\nSubject: found by DNS\r\n\r\nciao Fabio\r\n"
	if out := swaksData(t, msg, "-s", a.addr(portSubmissions), "-tlsc", "-a", "PLAIN", "-au", "alice@acme.test", "-ap", testPW,
		"-f", "alice@acme.test", "-t", "fabio@far.test"); !strings.Contains(out, "<~  250 ") {
		t.Fatalf("submission: %s", lastLines(out, 8))
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && b.inbox("fabio@far.test") < 1 {
		time.Sleep(100 * time.Millisecond)
	}
	if n := b.inbox("fabio@far.test"); n != 1 {
		t.Fatalf("fabio has %d messages, want 1\nA's log:\n%s", n, a.logs)
	}
	if n := metric(t, a, "posta_dns_exchanges_total"); n < 2 {
		t.Errorf("posta_dns_exchanges_total = %v, want at least 2 (MX and A of far.test)", n)
	}
	if n := metric(t, a, "posta_dns_lookups_total"); n < 2 {
		t.Errorf("posta_dns_lookups_total = %v, want at least 2", n)
	}
	if n := metric(t, a, "posta_dns_cache_entries"); n < 2 {
		t.Errorf("posta_dns_cache_entries = %v, want the answers cached", n)
	}
	if n := metric(t, a, "posta_dns_timeouts_total"); n != 0 {
		t.Errorf("posta_dns_timeouts_total = %v, want 0", n)
	}
	metric(t, b, "posta_dns_lookups_total") // B exports them too

	// A bad value is refused at start, naming the file, the key and what was expected.
	b.stop()
	editConfig(t, b, fmt.Sprintf("upstreams = [%q]", zone.Addr), `upstreams = ["dns.example.net"]`)
	_, stderr, code := b.run("serve")
	if code == 0 || !strings.Contains(stderr, "posta.toml: dns.upstreams: entry 1: expected an IP address") {
		t.Errorf("serve with a host name as upstream: exit %d, stderr %s", code, stderr)
	}
	editConfig(t, b, `upstreams = ["dns.example.net"]`, "upstreams = []", `timeout = "2s"`, `timeout = "-1s"`)
	_, stderr, code = b.run("serve")
	if code == 0 || !strings.Contains(stderr, "dns.timeout: expected a duration between 1ms and 1m0s") {
		t.Errorf("serve with a negative timeout: exit %d, stderr %s", code, stderr)
	}
	// posta init wrote the block lists' time limit with its default; too long a one is refused.
	editConfig(t, b, `timeout = "-1s"`, `timeout = "2s"`, `dnsbl_timeout = "5s"`, `dnsbl_timeout = "1m"`)
	_, stderr, code = b.run("serve")
	if code == 0 || !strings.Contains(stderr, `posta.toml: inbound.dnsbl_timeout: expected a duration between 1ms and 30s (such as "5s"), got "1m0s"`) {
		t.Errorf("serve with a one-minute block list timeout: exit %d, stderr %s", code, stderr)
	}
}
