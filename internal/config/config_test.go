package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := Default(dir, "mail.example.test", "127.0.0.1", 10000)
	if c.Listen.SMTP != "127.0.0.1:10025" || c.Listen.POP3S != "127.0.0.1:10995" || c.Listen.HTTPS != "127.0.0.1:10443" {
		t.Fatalf("listeners %+v", c.Listen)
	}
	path := filepath.Join(dir, "posta.toml")
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.resolvePaths()
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
	}
	if got.Database.DSN != "sqlite:"+filepath.Join(dir, "posta.db") || got.Limits.MaxMessageSize != 30408704 {
		t.Fatalf("resolved %q %d", got.Database.DSN, got.Limits.MaxMessageSize)
	}
}

func TestLoadErrors(t *testing.T) {
	base := "hostname = \"mail.example.test\"\n"
	tests := []struct {
		name, content, key, contains string
	}{
		{"unknown key", base + "colour = 1\n", "colour", "unknown key"},
		{"unknown nested key", base + "[limits]\nmax_size = 1\n", "limits.max_size", "unknown key"},
		{"syntax", base + "[listen = 1\n", "", "line 2"},
		{"wrong type", base + "[limits]\nmax_message_size = \"big\"\n", "", "max_message_size"},
		{"hostname", "hostname = \"not a host\"\n", "hostname", "fully qualified"},
		{"missing hostname", "", "hostname", "fully qualified"},
		{"negative size", base + "[limits]\nmax_message_size = -1\n", "limits.max_message_size", "got -1"},
		{"bad dsn", base + "[database]\ndsn = \"mysql://x\"\n", "database.dsn", "mysql"},
		{"bad port", base + "[listen]\nsmtp = \"127.0.0.1:99999\"\n", "listen.smtp", "port"},
		{"no port", base + "[listen]\nimap = \"127.0.0.1\"\n", "listen.imap", "host:port"},
		{"duplicate", base + "[listen]\nimap = \"127.0.0.1:1143\"\npop3 = \"127.0.0.1:1143\"\n", "listen.pop3", "listen.imap"},
		{"tls half", base + "[tls]\ncert = \"c.pem\"\n", "tls", "both"},
		{"log format", base + "[log]\nformat = \"xml\"\n", "log.format", "xml"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "posta.toml")
		os.WriteFile(path, []byte(tt.content), 0o600)
		_, err := Load(path)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: err %v, want *Error", tt.name, err)
			continue
		}
		if ce.Key != tt.key || !strings.Contains(err.Error(), tt.contains) || !strings.HasPrefix(err.Error(), "posta.toml") {
			t.Errorf("%s: %q (key %q), want key %q containing %q", tt.name, err, ce.Key, tt.key, tt.contains)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("missing file accepted")
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte("hostname = \"a.b\"\n[listen]\nsmtp = \":25\"\n"))
	f.Add([]byte("[[x]]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "posta.toml")
		os.WriteFile(path, b, 0o600)
		Load(path)
	})
}
