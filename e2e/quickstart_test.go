package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuickstart runs the README's first command in an empty directory twice: the first run
// creates the demo installation and serves it, the second reuses it with the same credentials.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	offset := freeOffset(t)
	run := func() string {
		cmd := exec.Command(binary, "quickstart", "--port-offset", fmt.Sprint(offset))
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Error("quickstart did not stop on SIGTERM")
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", portHTTP+offset))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		if ctx.Err() != nil {
			t.Fatalf("quickstart never became healthy:\n%s", out.String())
		}
		// A demo account receives mail at once.
		if err := sendPlain(fmt.Sprintf("127.0.0.1:%d", portSMTP+offset), "x@example.org", "alice@example.test", "Subject: hello\r\n\r\nhi\r\n"); err != nil {
			t.Fatalf("delivery to the demo account: %v", err)
		}
		return out.String()
	}
	first := run()
	for _, p := range []int{portSMTP, portSubmission, portSubmissions, portIMAP, portIMAPS, portPOP3, portPOP3S, portHTTP, portHTTPS} {
		if !strings.Contains(first, fmt.Sprintf("127.0.0.1:%d", p+offset)) {
			t.Errorf("port %d not printed:\n%s", p+offset, first)
		}
	}
	creds := regexp.MustCompile(`alice@example.test\s+(\S{16})`).FindStringSubmatch(first)
	if creds == nil || !strings.Contains(first, "admin@example.test") || !strings.Contains(first, "bob@example.test") {
		t.Fatalf("credentials not printed:\n%s", first)
	}
	if fi, err := os.Stat(filepath.Join(dir, "posta-data", "demo-credentials.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	second := run()
	if !strings.Contains(second, "Reusing the installation") || !strings.Contains(second, creds[1]) {
		t.Fatalf("second run did not reuse the data:\n%s", second)
	}
	// Both deliveries are in the same mailbox.
	in := &install{t: t, dir: dir, config: filepath.Join(dir, "posta-data", "posta.toml")}
	if n := countIn(t, filepath.Join(dir, "posta-data", "posta.db"), `SELECT COUNT(*) FROM messages`); n != 2 {
		t.Fatalf("%d messages after two runs, want 2", n)
	}
	in.mustRun("store", "verify")
}
