package e2e

import (
	"strings"
	"testing"
)

// The per-tenant DMARC rule from the CLI: on by default, turned off with tenant set, shown by
// tenant show; a value that is not a boolean is a usage error.
func TestTenantDMARCRuleCLI(t *testing.T) {
	in := newInstall(t)
	in.mustRun("tenant", "create", "Acme", "--contact", "it@acme.test")
	var ten struct {
		RejectDMARC bool `json:"reject_dmarc"`
	}
	in.runJSON(&ten, "tenant", "show", "Acme")
	if !ten.RejectDMARC {
		t.Fatal("a new tenant does not refuse DMARC rejects")
	}
	in.mustRun("tenant", "set", "Acme", "--reject-dmarc=false")
	in.runJSON(&ten, "tenant", "show", "Acme")
	if ten.RejectDMARC {
		t.Fatal("still refusing after --reject-dmarc=false")
	}
	if out := in.mustRun("tenant", "show", "Acme"); !strings.Contains(out, "DMARC p=reject failures: accepted into Junk") {
		t.Fatalf("tenant show: %s", out)
	}
	if _, stderr, code := in.run("tenant", "set", "Acme", "--reject-dmarc=maybe"); code == 0 || !strings.Contains(stderr, "reject-dmarc") {
		t.Fatalf("bad value: exit %d, %s", code, stderr)
	}
}
