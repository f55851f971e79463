package server

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/postamail/posta/internal/config"
	"github.com/postamail/posta/internal/smtpserver"
)

// TestInboundConfig: the [inbound] section of posta.toml reaches the SMTP server: the block
// lists, the action and the time their look-ups may take (5 s when the key is absent).
func TestInboundConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		inbound string
		zones   []string
		junk    bool
		timeout time.Duration
	}{
		{"absent", "", nil, false, 5 * time.Second},
		{"defaults", "[inbound]\ndnsbl = [\"zen.spamhaus.org\"]\n", []string{"zen.spamhaus.org"}, false, 5 * time.Second},
		{"junk, short", "[inbound]\ndnsbl = [\"a.example\", \"b.example\"]\ndnsbl_action = \"junk\"\ndnsbl_timeout = \"750ms\"\n", []string{"a.example", "b.example"}, true, 750 * time.Millisecond},
		{"longest", "[inbound]\ndnsbl_timeout = \"30s\"\n", nil, false, 30 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "posta.toml")
			if err := os.WriteFile(path, []byte("hostname = \"mail.example.test\"\n"+tt.inbound), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var sc smtpserver.Config
			inboundConfig(&sc, cfg.Inbound)
			if !slices.Equal(sc.DNSBL, tt.zones) || sc.DNSBLJunk != tt.junk || sc.DNSBLTimeout != tt.timeout {
				t.Errorf("got zones %q junk %v timeout %s, want %q %v %s", sc.DNSBL, sc.DNSBLJunk, sc.DNSBLTimeout, tt.zones, tt.junk, tt.timeout)
			}
		})
	}
}
