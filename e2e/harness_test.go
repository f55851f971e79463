// Package e2e runs the built posta binary on loopback ports and drives it with real clients
// (the posta CLI itself, swaks, msmtp, python's imaplib/poplib/smtplib, curl, ...). Each test
// gets its own installation in a temporary directory.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the posta binary built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "posta-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "posta")
	build := exec.Command("go", "build", "-o", binary, "../cmd/posta")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build posta:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Standard ports; an installation listens on each plus its offset.
const (
	portSMTP        = 25
	portSubmission  = 587
	portSubmissions = 465
	portIMAP        = 143
	portIMAPS       = 993
	portPOP3        = 110
	portPOP3S       = 995
	portHTTP        = 80
	portHTTPS       = 443
)

var standardPorts = []int{portSMTP, portSubmission, portSubmissions, portIMAP, portIMAPS, portPOP3, portPOP3S, portHTTP, portHTTPS}

// install is one posta installation under test.
type install struct {
	t      *testing.T
	dir    string
	config string
	offset int
	env    []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	logs   *bytes.Buffer
	exited chan struct{}
}

// newInstall runs "posta init" in a fresh directory on free loopback ports.
func newInstall(t *testing.T, extraInitArgs ...string) *install {
	t.Helper()
	dir := t.TempDir()
	in := &install{t: t, dir: dir, config: filepath.Join(dir, "data", "posta.toml"), offset: freeOffset(t)}
	args := append([]string{"init", "--data", filepath.Join(dir, "data"), "--hostname", "mail.example.test",
		"--listen-host", "127.0.0.1", "--port-offset", fmt.Sprint(in.offset)}, extraInitArgs...)
	in.mustRun(args...)
	// Tests never reach the Internet: mail for other domains goes to a closed loopback port
	// and waits in the queue. A test adds its own routes to this table.
	f, err := os.OpenFile(in.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[outbound.routes]\n\"*\" = \"127.0.0.1:9\"\n")
	f.Close()
	return in
}

// freeOffset finds a port offset at which every standard port is free on 127.0.0.1.
func freeOffset(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		off := 20000 + rand.IntN(30000)
		ok := true
		for _, p := range standardPorts {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+off))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return off
		}
	}
	t.Fatal("no free port offset found")
	return 0
}

func (in *install) addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port+in.offset) }

// run runs a posta CLI command against this installation and returns stdout, stderr and the
// exit code.
func (in *install) run(args ...string) (stdout, stderr string, code int) {
	in.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, append([]string{"--config", in.config}, args...)...)
	cmd.Dir = in.dir
	cmd.Env = append(os.Environ(), in.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			in.t.Fatalf("posta %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// mustRun runs a command that must succeed and returns its stdout.
func (in *install) mustRun(args ...string) string {
	in.t.Helper()
	out, errs, code := in.run(args...)
	if code != 0 {
		in.t.Fatalf("posta %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// runJSON runs a read command with --json and decodes its output into v.
func (in *install) runJSON(v any, args ...string) {
	in.t.Helper()
	out := in.mustRun(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		in.t.Fatalf("posta %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// start runs "posta serve" in the background and waits until /healthz answers.
func (in *install) start() {
	in.t.Helper()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.logs = new(bytes.Buffer)
	in.cmd = exec.Command(binary, "--config", in.config, "serve")
	in.cmd.Dir = in.dir
	in.cmd.Env = append(os.Environ(), in.env...)
	in.cmd.Stdout, in.cmd.Stderr = in.logs, in.logs
	if err := in.cmd.Start(); err != nil {
		in.t.Fatal(err)
	}
	in.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(in.cmd, in.exited)
	in.t.Cleanup(func() { in.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-in.exited:
			in.t.Fatalf("posta serve exited early:\n%s", in.logs)
		default:
		}
		resp, err := http.Get("http://" + in.addr(portHTTP) + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.t.Fatalf("posta serve not healthy after 30s:\n%s", in.logs)
}

// stop sends SIGTERM and waits for a clean exit.
func (in *install) stop() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(40 * time.Second):
		in.cmd.Process.Kill()
		<-in.exited
		in.t.Errorf("posta serve did not stop within 40s after SIGTERM")
	}
	in.cmd = nil
}

// kill stops the server with SIGKILL, as a crash would.
func (in *install) kill() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil {
		return
	}
	in.cmd.Process.Kill()
	<-in.exited
	in.cmd = nil
}

// tlsConfig trusts the installation's self-signed certificate.
func (in *install) tlsConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"}
}

// needTool skips the test when a client program is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run must install it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}
