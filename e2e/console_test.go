package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postamail/posta/internal/directory"
)

// consoleDir holds the browser flow (flow.mjs) and its npm dependencies.
const consoleDir = "testdata/console"

// flowSummary is what flow.mjs reports.
type flowSummary struct {
	OK    bool `json:"ok"`
	Steps []struct {
		Name   string `json:"name"`
		Detail any    `json:"detail"`
	} `json:"steps"`
	Account       string   `json:"account"`
	Alias         string   `json:"alias"`
	List          string   `json:"list"`
	ListMembers   []string `json:"listMembers"`
	COSAfter      string   `json:"cosAfter"`
	COSPreview    string   `json:"cosPreview"`
	CapMessage    string   `json:"capMessage"`
	AppPassword   string   `json:"appPassword"`
	Screenshots   []string `json:"screenshots"`
	ConsoleErrors []string `json:"consoleErrors"`
	CSPViolations []string `json:"cspViolations"`
	Error         string   `json:"error"`
	FailedAt      string   `json:"failedAt"`
}

// npmCI installs the flow's dependencies from package-lock.json when they are missing.
func npmCI(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(consoleDir, "node_modules", "playwright-core", "package.json")); err == nil {
		return
	}
	npm := needTool(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = consoleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", consoleDir, err, out)
	}
}

// TestConsoleInChromium drives the web console with a real browser as a tenant administrator
// and then checks, with the CLI, that what the pages said was done is in the directory; then as
// the mailbox user alice, who creates an app password that must work for a real IMAP login.
func TestConsoleInChromium(t *testing.T) {
	chromium := needTool(t, "chromium")
	node := needTool(t, "node")
	npmCI(t)

	in := newInstall(t)
	pw := writeFile(t, in.dir, "pw", testPW)
	in.mustRun("tenant", "create", "Acme", "--contact", "it@acme.test", "--contract", "subscription")
	in.mustRun("domain", "add", "acme.test", "--tenant", "Acme")
	in.mustRun("tenant", "cap", "Acme", "Business Mail 100 MB", "5")
	in.mustRun("tenant", "cap", "Acme", "Business Mail Plus 500 MB", "1")
	in.mustRun("account", "add", "alice@acme.test", "--cos", "Business Mail 100 MB", "--name", "Alice Bianchi", "--password-file", pw)
	const adminEmail, adminPassword = "manager@acme.test", "Tenant-Admin-Secret-2026"
	in.mustRun("admin", "add", adminEmail, "--role", "tenant", "--tenant", "Acme", "--password-file", writeFile(t, in.dir, "admin-pw", adminPassword))
	in.start()

	shots := filepath.Join(t.ArtifactDir(), "screenshots")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "flow.mjs", "https://"+in.addr(portHTTPS), adminEmail, shots)
	cmd.Dir = consoleDir
	cmd.Env = append(os.Environ(), "POSTA_PASSWORD="+adminPassword, "POSTA_CHROMIUM="+chromium,
		"POSTA_USER_EMAIL=alice@acme.test", "POSTA_USER_PASSWORD="+testPW)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var sum flowSummary
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &sum); err != nil {
		t.Fatalf("flow.mjs: %v (%v)\nstdout: %s\nstderr: %s\nserver:\n%s", err, runErr, stdout.String(), stderr.String(), in.logs)
	}
	if dst := os.Getenv("POSTA_SAVE_SCREENSHOTS"); dst != "" {
		saveScreenshots(t, sum.Screenshots, filepath.Join(consoleDir, "screenshots"))
	}
	if runErr != nil || !sum.OK {
		t.Fatalf("browser flow failed (%v) at %s: %s\nsteps: %+v\nconsole errors: %v\nstderr: %s\nscreenshots in %s", runErr, sum.FailedAt, sum.Error, sum.Steps,
			sum.ConsoleErrors, stderr.String(), shots)
	}
	t.Logf("browser flow: %d steps, screenshots in %s", len(sum.Steps), shots)
	if len(sum.CSPViolations) > 0 {
		t.Errorf("Content-Security-Policy violations: %v", sum.CSPViolations)
	}
	if !strings.Contains(sum.CapMessage, `contract allows 1 accounts of "Business Mail Plus 500 MB"`) {
		t.Errorf("cap message %q", sum.CapMessage)
	}
	if !strings.Contains(sum.COSPreview, "Calendar") {
		t.Errorf("COS preview %q", sum.COSPreview)
	}
	for _, name := range []string{"login", "dashboard", "accounts", "account", "list", "domain-dns", "cos-preview", "cap-error", "account-mobile",
		"self-service", "app-password"} {
		p := filepath.Join(shots, name+".png")
		if st, err := os.Stat(p); err != nil || st.Size() < 5000 {
			t.Errorf("screenshot %s: %v", p, err)
		}
	}

	// What the pages reported is what the directory holds.
	var accounts struct {
		Accounts []struct {
			Address     string `json:"address"`
			DisplayName string `json:"display_name"`
			COS         string `json:"cos"`
			Status      string `json:"status"`
		} `json:"accounts"`
	}
	in.runJSON(&accounts, "account", "list")
	var addrs []string
	for _, a := range accounts.Accounts {
		addrs = append(addrs, a.Address)
		if a.Address == "carol@acme.test" && (a.DisplayName != "Carol Rossi" || a.COS != "Business Mail Plus 500 MB" || a.Status != "active") {
			t.Errorf("carol: %+v", a)
		}
	}
	if !slices.Contains(addrs, "carol@acme.test") || slices.Contains(addrs, "dave@acme.test") {
		t.Errorf("accounts after the flow: %v", addrs)
	}
	var aliases []directory.Alias
	in.runJSON(&aliases, "alias", "list")
	if !slices.Contains(aliases, directory.Alias{Address: "c.rossi@acme.test", Account: "carol@acme.test"}) {
		t.Errorf("aliases: %+v", aliases)
	}
	var list directory.List
	in.runJSON(&list, "list", "show", "team@acme.test")
	if list.PostPolicy != "members" || !slices.Equal(list.Members, []string{"alice@acme.test", "carol@acme.test"}) {
		t.Errorf("list: %+v", list)
	}
	var tenant struct {
		Usage []directory.COSUsage `json:"usage"`
	}
	in.runJSON(&tenant, "tenant", "show", "Acme")
	if !slices.Contains(tenant.Usage, directory.COSUsage{COS: "Business Mail Plus 500 MB", Cap: 1, InUse: 1}) {
		t.Errorf("usage: %+v", tenant.Usage)
	}
	// Every change was recorded with the administrator and the browser's address.
	for _, action := range []string{"account.create", "alias.add", "list.create", "list.member.add", "account.update"} {
		if n := in.count(`SELECT COUNT(*) FROM audit_log WHERE actor = ? AND action = ? AND remote LIKE '127.0.0.1:%'`, adminEmail, action); n == 0 {
			t.Errorf("audit: no %s by %s", action, adminEmail)
		}
	}
	// The app password alice read from the page logs her in over IMAPS, in place of her
	// password; the directory lists it by name only, created by alice herself.
	if len(sum.AppPassword) != 20 || sum.AppPassword == testPW {
		t.Fatalf("app password from the page: %q", sum.AppPassword)
	}
	if l := imapsLogin(t, in, "alice@acme.test", sum.AppPassword); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("IMAP login with the app password from the console: %q", l)
	}
	if l := imapsLogin(t, in, "alice@acme.test", sum.AppPassword+"x"); strings.HasPrefix(l, "a OK") {
		t.Fatalf("IMAP login with a wrong app password: %q", l)
	}
	var apps []struct {
		Name       string `json:"name"`
		LastUsedAt int64  `json:"last_used_at"`
	}
	in.runJSON(&apps, "account", "app-password-list", "alice@acme.test")
	if len(apps) != 1 || apps[0].Name != "phone" || apps[0].LastUsedAt == 0 {
		t.Errorf("alice's app passwords: %+v", apps)
	}
	if n := in.count(`SELECT COUNT(*) FROM audit_log WHERE actor = ? AND action = ?`, "alice@acme.test", "account.app-password.create"); n != 1 {
		t.Errorf("audit: %d app-password.create by alice", n)
	}

	// The session is gone after the logout.
	if n := in.count(`SELECT COUNT(*) FROM web_sessions`); n != 0 {
		t.Errorf("%d sessions left after logout", n)
	}
}

// imapsLogin logs in over IMAPS with LOGIN and returns the tagged answer.
func imapsLogin(t *testing.T, in *install, user, password string) string {
	t.Helper()
	c, err := tls.Dial("tcp", in.addr(portIMAPS), in.tlsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if greeting, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(greeting, "* OK") {
		t.Fatalf("IMAPS greeting %q: %v", greeting, err)
	}
	fmt.Fprintf(c, "a LOGIN %s \"%s\"\r\n", user, password)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("IMAPS LOGIN: %v", err)
		}
		if strings.HasPrefix(l, "a ") {
			return strings.TrimRight(l, "\r\n")
		}
	}
}

// saveScreenshots copies the flow's screenshots into the repository (POSTA_SAVE_SCREENSHOTS).
func saveScreenshots(t *testing.T, files []string, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			t.Error(err)
		}
	}
	fmt.Fprintf(os.Stderr, "console screenshots copied to %s\n", dst)
}
