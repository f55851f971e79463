package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimal = "hostname = \"mail.example.test\"\n"

// writeConfig writes content to posta.toml in a new directory and returns its path.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posta.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// asError asserts that err is a *Error.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	ce, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error %v (%T), want *config.Error", err, err)
	}
	return ce
}

func TestDefault(t *testing.T) {
	c := Default("/srv/posta", "mail.example.test", "127.0.0.1", 10000)
	want := Listen{
		SMTP: "127.0.0.1:10025", Submission: "127.0.0.1:10587", Submissions: "127.0.0.1:10465",
		IMAP: "127.0.0.1:10143", IMAPS: "127.0.0.1:10993", POP3: "127.0.0.1:10110",
		POP3S: "127.0.0.1:10995", HTTP: "127.0.0.1:10080", HTTPS: "127.0.0.1:10443",
	}
	if c.Listen != want {
		t.Errorf("listeners\n got %+v\nwant %+v", c.Listen, want)
	}
	if c.TLS != (TLS{Cert: "tls/cert.pem", Key: "tls/key.pem", SelfSigned: true}) {
		t.Errorf("tls %+v", c.TLS)
	}
	if c.Limits != (Limits{MaxMessageSize: 30408704, MaxRecipients: 100}) {
		t.Errorf("limits %+v", c.Limits)
	}
	if c.Log != (Log{Format: "text", Level: "info"}) || c.Database.DSN != "sqlite:posta.db" || c.Blob.Dir != "blobs" {
		t.Errorf("defaults %+v %+v %+v", c.Log, c.Database, c.Blob)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
	if got := Default("/d", "mail.example.test", "::1", 0).Listen.IMAPS; got != "[::1]:993" {
		t.Errorf("IPv6 listener %q", got)
	}
	if got := Default("/d", "mail.example.test", "", 0).Listen.SMTP; got != ":25" {
		t.Errorf("all-interfaces listener %q", got)
	}
}

func TestLoadDefaultsAndPaths(t *testing.T) {
	path := writeConfig(t, minimal)
	dir := filepath.Dir(path)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Hostname: "mail.example.test",
		DataDir:  dir,
		Log:      Log{Format: "text", Level: "info"},
		Database: Database{"sqlite:" + filepath.Join(dir, "posta.db")},
		Blob:     Blob{filepath.Join(dir, "blobs")},
		Limits:   Limits{MaxMessageSize: 30408704, MaxRecipients: 100},
		Outbound: Outbound{Port: 25},
		Inbound:  Inbound{DNSBLAction: "reject", DNSBLTimeout: Duration(5 * time.Second)},
		DNS:      DNS{Timeout: Duration(2 * time.Second), Attempts: 2, CacheSize: 10000, MaxTTL: Duration(24 * time.Hour), NegativeTTL: Duration(time.Hour)},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", *c, want)
	}

	// data_dir relative to the file, other paths relative to data_dir, absolute paths kept.
	path = writeConfig(t, minimal+`data_dir = "var"
[database]
dsn = "sqlite:db/main.db"
[blob]
dir = "/abs/blobs"
[tls]
cert = "c.pem"
key = "/etc/k.pem"
`)
	c, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(filepath.Dir(path), "var")
	if c.DataDir != data {
		t.Errorf("data_dir %q, want %q", c.DataDir, data)
	}
	if p, ok := c.SQLitePath(); !ok || p != filepath.Join(data, "db", "main.db") {
		t.Errorf("sqlite path %q %v", p, ok)
	}
	if c.Blob.Dir != "/abs/blobs" || c.TLS.Cert != filepath.Join(data, "c.pem") || c.TLS.Key != "/etc/k.pem" {
		t.Errorf("paths %q %q %q", c.Blob.Dir, c.TLS.Cert, c.TLS.Key)
	}

	// A relative path to the file still yields absolute paths.
	t.Chdir(filepath.Dir(path))
	if c, err = Load("posta.toml"); err != nil || !filepath.IsAbs(c.DataDir) || c.DataDir != data {
		t.Errorf("relative file: %v, data_dir %q", err, c.DataDir)
	}
}

func TestDatabaseHelpers(t *testing.T) {
	tests := []struct {
		dsn      string
		path     string
		sqlite   bool
		postgres bool
	}{
		{"sqlite:/d/posta.db", "/d/posta.db", true, false},
		{"postgres://u:p@h/db", "", false, true},
		{"postgresql://h/db?sslmode=require", "", false, true},
		{"mysql://h/db", "", false, false},
	}
	for _, tt := range tests {
		c := &Config{Database: Database{tt.dsn}}
		p, ok := c.SQLitePath()
		if p != tt.path || ok != tt.sqlite || c.IsPostgres() != tt.postgres {
			t.Errorf("%s: SQLitePath %q %v, IsPostgres %v", tt.dsn, p, ok, c.IsPostgres())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "posta.toml")

	// Default → Write → Load gives Default with its paths resolved.
	c := Default(dir, "mail.example.test", "127.0.0.1", 10000)
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat %v, mode %v", err, fi.Mode())
	}
	text, _ := os.ReadFile(path)
	for _, s := range []string{"# posta bootstrap configuration", `dsn = "sqlite:posta.db"`, `cert = "tls/cert.pem"`, "[listen]"} {
		if !strings.Contains(string(text), s) {
			t.Errorf("written file lacks %q:\n%s", s, text)
		}
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.resolvePaths()
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip\n got %+v\nwant %+v", *got, want)
	}

	// Unusual but valid values survive, written anywhere.
	odd := *got
	odd.DataDir = filepath.Join(dir, `data "q" \ é`+"\t"+"x")
	odd.Hostname = "MX-1.Example.test"
	odd.Database.DSN = "postgres://posta:p%40ss@db.example.test:5432/posta?sslmode=verify-full"
	odd.Blob.Dir = "/var/lib/blobs"
	odd.TLS = TLS{Cert: filepath.Join(odd.DataDir, "c.pem"), Key: "/etc/ssl/k\u007f.pem"}
	odd.Listen = Listen{SMTP: "[::]:2525", IMAP: "mail.internal:1143", HTTP: ":8080"}
	odd.Log = Log{Format: "json", Level: "debug", Trace: true}
	odd.Limits = Limits{MaxMessageSize: 1024, MaxRecipients: 1}
	odd.Security.AllowInsecureAuth = true
	odd.Inbound = Inbound{DNSBL: []string{"zen.spamhaus.org", "bl.example.test"}, DNSBLAction: "junk", DNSBLTimeout: Duration(750 * time.Millisecond)}
	odd.DNS = DNS{Upstreams: []string{"192.0.2.53", "[2001:db8::53]:5353", "::1"}, Timeout: Duration(1500 * time.Millisecond),
		Attempts: 1, CacheSize: 0, MaxTTL: Duration(90 * time.Minute), NegativeTTL: Duration(time.Second)}
	other := filepath.Join(t.TempDir(), "other.toml")
	if err := odd.Write(other); err != nil {
		t.Fatal(err)
	}
	back, err := Load(other)
	if err != nil {
		text, _ := os.ReadFile(other)
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(*back, odd) {
		t.Fatalf("round trip\n got %+v\nwant %+v", *back, odd)
	}
	// Rewriting the same file replaces it and leaves no temporary file behind.
	if err := back.Write(other); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(other)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}
}

func TestWriteRefusesInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posta.toml")
	c := Default(t.TempDir(), "not a host", "", 0)
	ce := asError(t, c.Write(path))
	if ce.Key != "hostname" {
		t.Errorf("key %q", ce.Key)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("invalid configuration written: %v", err)
	}
	c = Default(t.TempDir(), "mail.example.test", "", 0)
	if err := c.Write(filepath.Join(t.TempDir(), "missing", "posta.toml")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write into a missing directory: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		key    string
		want   string // in the message
	}{
		{"empty hostname", func(c *Config) { c.Hostname = "" }, "hostname", "is required"},
		{"single label", func(c *Config) { c.Hostname = "mail" }, "hostname", "fully qualified"},
		{"space", func(c *Config) { c.Hostname = "not a host" }, "hostname", `' '`},
		{"trailing dot", func(c *Config) { c.Hostname = "mail.example.com." }, "hostname", "trailing dot"},
		{"ip hostname", func(c *Config) { c.Hostname = "192.0.2.1" }, "hostname", "IP address"},
		{"hyphen", func(c *Config) { c.Hostname = "-mail.example.com" }, "hostname", "hyphen"},
		{"empty label", func(c *Config) { c.Hostname = "mail..example.com" }, "hostname", "empty label"},
		{"long label", func(c *Config) { c.Hostname = strings.Repeat("a", 64) + ".com" }, "hostname", "64 characters"},
		{"long name", func(c *Config) { c.Hostname = strings.Repeat("abcdefghi.", 26) + "com" }, "hostname", "at most 253"},
		{"unicode", func(c *Config) { c.Hostname = "posta.città.it" }, "hostname", "xn--"},
		{"numeric tld", func(c *Config) { c.Hostname = "mail.example.123" }, "hostname", "all-numeric"},
		{"data dir", func(c *Config) { c.DataDir = "" }, "data_dir", "is empty"},
		{"nul", func(c *Config) { c.Blob.Dir = "a\x00b" }, "blob.dir", "NUL"},
		{"utf8", func(c *Config) { c.TLS.Cert = "\xff.pem" }, "tls.cert", "UTF-8"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format", `"xml"`},
		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", `"verbose"`},
		{"empty dsn", func(c *Config) { c.Database.DSN = "" }, "database.dsn", "is empty"},
		{"mysql", func(c *Config) { c.Database.DSN = "mysql://root:hunter2@h/db" }, "database.dsn", `unsupported database "mysql"`},
		{"no scheme", func(c *Config) { c.Database.DSN = "host=db password=hunter2" }, "database.dsn", "no recognised scheme"},
		{"sqlite no path", func(c *Config) { c.Database.DSN = "sqlite:" }, "database.dsn", "needs a file path"},
		{"sqlite query", func(c *Config) { c.Database.DSN = "sqlite:/d/x.db?mode=ro" }, "database.dsn", `'?'`},
		{"postgres bad url", func(c *Config) { c.Database.DSN = "postgres://posta:hunter2/db" }, "database.dsn", "percent-encode"},
		{"blob dir", func(c *Config) { c.Blob.Dir = "" }, "blob.dir", "is empty"},
		{"no port", func(c *Config) { c.Listen.IMAP = "127.0.0.1" }, "listen.imap", "host:port"},
		{"port range", func(c *Config) { c.Listen.SMTP = "127.0.0.1:99999" }, "listen.smtp", "between 1 and 65535"},
		{"port zero", func(c *Config) { c.Listen.POP3 = ":0" }, "listen.pop3", `"0"`},
		{"port name", func(c *Config) { c.Listen.SMTP = ":smtp" }, "listen.smtp", `"smtp"`},
		{"port sign", func(c *Config) { c.Listen.SMTP = ":+25" }, "listen.smtp", `"+25"`},
		{"bad host", func(c *Config) { c.Listen.HTTP = "ex ample:80" }, "listen.http", "IP address or a host name"},
		{"same address", func(c *Config) { c.Listen.POP3 = c.Listen.IMAP }, "listen.pop3", "listen.imap"},
		{"wildcard clash", func(c *Config) { c.Listen.IMAPS = "0.0.0.0:2525" }, "listen.imaps", "listen.smtp"},
		{"v6 wildcard clash", func(c *Config) { c.Listen.SMTP = "[::]:1143" }, "listen.imap", "listen.smtp"},
		{"tls key missing", func(c *Config) { c.TLS.Key = "" }, "tls.key", "both"},
		{"tls cert missing", func(c *Config) { c.TLS.Cert = "" }, "tls.cert", "both"},
		{"self-signed without files", func(c *Config) { c.TLS = TLS{SelfSigned: true} }, "tls.self_signed", "empty"},
		{"implicit tls without cert", func(c *Config) { c.TLS = TLS{} }, "listen.submissions", "certificate"},
		{"size negative", func(c *Config) { c.Limits.MaxMessageSize = -1 }, "limits.max_message_size", "positive number of bytes"},
		{"size small", func(c *Config) { c.Limits.MaxMessageSize = 1023 }, "limits.max_message_size", "got 1023"},
		{"size large", func(c *Config) { c.Limits.MaxMessageSize = 1<<30 + 1 }, "limits.max_message_size", "1 GiB"},
		{"recipients zero", func(c *Config) { c.Limits.MaxRecipients = 0 }, "limits.max_recipients", "got 0"},
		{"recipients large", func(c *Config) { c.Limits.MaxRecipients = 100001 }, "limits.max_recipients", "up to 100000"},
		{"upstream name", func(c *Config) { c.DNS.Upstreams = []string{"1.1.1.1", "dns.example.net"} }, "dns.upstreams", `entry 2: expected an IP address with an optional port, such as "192.0.2.53"`},
		{"upstream port", func(c *Config) { c.DNS.Upstreams = []string{"192.0.2.1:0"} }, "dns.upstreams", "between 1 and 65535"},
		{"upstream port name", func(c *Config) { c.DNS.Upstreams = []string{"192.0.2.1:domain"} }, "dns.upstreams", `"192.0.2.1:domain"`},
		{"upstream v6 unbracketed port", func(c *Config) { c.DNS.Upstreams = []string{"2001:db8::1:53:x"} }, "dns.upstreams", `got "2001:db8::1:53:x"`},
		{"upstream empty", func(c *Config) { c.DNS.Upstreams = []string{""} }, "dns.upstreams", `got ""`},
		{"timeout negative", func(c *Config) { c.DNS.Timeout = Duration(-time.Second) }, "dns.timeout", `between 1ms and 1m0s (such as "2ms"), got "-1s"`},
		{"timeout zero", func(c *Config) { c.DNS.Timeout = 0 }, "dns.timeout", `got "0s"`},
		{"timeout long", func(c *Config) { c.DNS.Timeout = Duration(2 * time.Minute) }, "dns.timeout", `got "2m0s"`},
		{"max ttl negative", func(c *Config) { c.DNS.MaxTTL = Duration(-time.Hour) }, "dns.max_ttl", `got "-1h0m0s"`},
		{"negative ttl too long", func(c *Config) { c.DNS.NegativeTTL = Duration(8 * 24 * time.Hour) }, "dns.negative_ttl", "168h0m0s"},
		{"attempts zero", func(c *Config) { c.DNS.Attempts = 0 }, "dns.attempts", "between 1 and 10, got 0"},
		{"cache negative", func(c *Config) { c.DNS.CacheSize = -1 }, "dns.cache_size", "got -1"},
		{"dnsbl not a zone", func(c *Config) { c.Inbound.DNSBL = []string{"zen spamhaus"} }, "inbound.dnsbl", `entry 1 ("zen spamhaus")`},
		{"dnsbl single label", func(c *Config) { c.Inbound.DNSBL = []string{"zen"} }, "inbound.dnsbl", "fully qualified"},
		{"dnsbl ip", func(c *Config) { c.Inbound.DNSBL = []string{"127.0.0.2"} }, "inbound.dnsbl", "IP address"},
		{"dnsbl twice", func(c *Config) { c.Inbound.DNSBL = []string{"a.example", "A.example"} }, "inbound.dnsbl", "entry 2: zone \"A.example\" is listed twice"},
		{"dnsbl too many", func(c *Config) { c.Inbound.DNSBL = strings.Split(strings.Repeat("bl.example,", 21), ",")[:21] }, "inbound.dnsbl", "lists 21 zones"},
		{"dnsbl action", func(c *Config) { c.Inbound.DNSBLAction = "drop" }, "inbound.dnsbl_action", `expected "reject" or "junk", got "drop"`},
		{"dnsbl timeout zero", func(c *Config) { c.Inbound.DNSBLTimeout = 0 }, "inbound.dnsbl_timeout", `expected a duration between 1ms and 30s (such as "5s"), got "0s"`},
		{"dnsbl timeout negative", func(c *Config) { c.Inbound.DNSBLTimeout = Duration(-time.Second) }, "inbound.dnsbl_timeout", `got "-1s"`},
		{"dnsbl timeout below a millisecond", func(c *Config) { c.Inbound.DNSBLTimeout = Duration(time.Microsecond) }, "inbound.dnsbl_timeout", `got "1µs"`},
		{"dnsbl timeout long", func(c *Config) { c.Inbound.DNSBLTimeout = Duration(30*time.Second + time.Millisecond) }, "inbound.dnsbl_timeout", `got "30.001s"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default("/srv/posta", "mail.example.test", "", 10000)
			c.Listen.SMTP = "127.0.0.1:2525"
			c.Listen.IMAP = "127.0.0.1:1143"
			tt.modify(c)
			ce := asError(t, c.Validate())
			if ce.Key != tt.key || !strings.Contains(ce.Msg, tt.want) {
				t.Errorf("got key %q: %q\nwant key %q containing %q", ce.Key, ce.Error(), tt.key, tt.want)
			}
			if !strings.HasPrefix(ce.Error(), "posta.toml: "+tt.key+": ") {
				t.Errorf("format: %q", ce.Error())
			}
			if strings.Contains(ce.Error(), "hunter2") {
				t.Errorf("error reveals a password: %q", ce.Error())
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
	}{
		{"localhost", func(c *Config) { c.Hostname = "localhost" }},
		{"punycode", func(c *Config) { c.Hostname = "posta.xn--citt-5qa.it" }},
		{"no tls, no implicit tls", func(c *Config) {
			c.TLS = TLS{}
			c.Listen.Submissions, c.Listen.IMAPS, c.Listen.POP3S, c.Listen.HTTPS = "", "", "", ""
		}},
		{"all disabled", func(c *Config) { c.Listen = Listen{} }},
		{"different hosts, same port", func(c *Config) {
			c.Listen.SMTP, c.Listen.Submission = "127.0.0.1:25", "127.0.0.2:25"
		}},
		{"zoned ipv6", func(c *Config) { c.Listen.SMTP = "[fe80::1%eth0]:25" }},
		{"postgres socket", func(c *Config) { c.Database.DSN = "postgresql:///posta?host=/run/postgresql" }},
		{"limits at bounds", func(c *Config) { c.Limits = Limits{MaxMessageSize: 1 << 30, MaxRecipients: 100000} }},
		{"upstreams", func(c *Config) {
			c.DNS.Upstreams = []string{"192.0.2.53", "192.0.2.53:5353", "2001:db8::53", "[2001:db8::53]", "[2001:db8::53]:53"}
		}},
		{"dns at bounds", func(c *Config) {
			c.DNS = DNS{Timeout: Duration(time.Millisecond), Attempts: 10, CacheSize: 0, MaxTTL: Duration(7 * 24 * time.Hour), NegativeTTL: Duration(time.Second)}
		}},
		{"dnsbl junk", func(c *Config) {
			c.Inbound = Inbound{DNSBL: []string{"zen.spamhaus.org"}, DNSBLAction: "junk", DNSBLTimeout: Duration(time.Second)}
		}},
		{"dnsbl timeout shortest", func(c *Config) { c.Inbound.DNSBLTimeout = Duration(time.Millisecond) }},
		{"dnsbl timeout longest", func(c *Config) { c.Inbound.DNSBLTimeout = Duration(30 * time.Second) }},
	}
	for _, tt := range tests {
		c := Default("/srv/posta", "mail.example.test", "127.0.0.1", 0)
		tt.modify(c)
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, content string
		key           string
		line          int
		want          string // in Error()
	}{
		{"unknown key", minimal + "colour = 1\n", "colour", 0, "posta.toml: colour: unknown key"},
		{"unknown nested key", minimal + "[limits]\nmax_size = 1\n", "limits.max_size", 0, "unknown key"},
		{"suggestion", minimal + "[limits]\nmax_mesage_size = 1\n", "limits.max_mesage_size", 0, "did you mean limits.max_message_size?"},
		{"case", minimal + "[log]\nLevel = \"info\"\n", "log.Level", 0, "did you mean log.level?"},
		{"wrong table", minimal + "smtp = \":25\"\n", "smtp", 0, "did you mean listen.smtp?"},
		{"unknown table", minimal + "[acme]\nemail = \"x\"\n", "acme", 0, "unknown key"},
		{"array of tables", minimal + "[[listen]]\nsmtp = \":25\"\n", "listen", 0, "expected a table ([listen]), got an array of tables"},
		{"wrong type", minimal + "[limits]\nmax_message_size = \"big\"\n", "limits.max_message_size", 0, "expected an integer, got a string"},
		{"float", minimal + "[limits]\nmax_recipients = 1.5\n", "limits.max_recipients", 0, "got a floating-point number"},
		{"bool as string", minimal + "[security]\nallow_insecure_auth = \"yes\"\n", "security.allow_insecure_auth", 0, "expected a boolean"},
		{"table as value", minimal + "listen = \":25\"\n", "listen", 0, "expected a table ([listen]), got a string"},
		{"value as table", "[hostname]\nx = 1\n", "hostname", 0, "expected a string, got a table"},
		{"dotted below value", "hostname.a = \"x\"\n", "hostname", 0, "expected a string"},
		{"syntax", minimal + "[listen = 1\n", "", 2, "line 2, column 9: expected '.' or ']'"},
		{"unterminated string", minimal + "\n\n[log]\nformat = \"json\n", "log.format", 5, "log.format: strings cannot contain newlines"},
		{"duplicate key", minimal + "hostname = \"b.example\"\n", "hostname", 2, "line 2"},
		{"garbage after value", minimal + "[log]\nformat = \"json\" x\n", "log", 3, "but got 'x'"},
		{"missing hostname", "", "hostname", 0, "is required"},
		{"explicit zero size", minimal + "[limits]\nmax_message_size = 0\n", "limits.max_message_size", 0, "got 0"},
		{"negative size", minimal + "[limits]\nmax_message_size = -1\n", "limits.max_message_size", 0, "expected a positive number of bytes between 1024 (1 KiB) and 1073741824 (1 GiB), got -1"},
		{"explicit empty dsn", minimal + "[database]\ndsn = \"\"\n", "database.dsn", 0, "is empty"},
		{"explicit empty format", minimal + "[log]\nformat = \"\"\n", "log.format", 0, `got ""`},
		{"duplicate listener", minimal + "[listen]\nimap = \"127.0.0.1:1143\"\npop3 = \"127.0.0.1:1143\"\n", "listen.pop3", 0, "listen.imap"},
		{"half tls", minimal + "[tls]\ncert = \"c.pem\"\n", "tls.key", 0, "both"},
		{"duration syntax", minimal + "[dns]\ntimeout = \"2 seconds\"\n", "dns.timeout", 3, `expected a duration such as "2s", "500ms" or "1h", got "2 seconds"`},
		{"duration as integer", minimal + "[dns]\ntimeout = 2\n", "dns.timeout", 3, `got "2"`},
		{"negative duration", minimal + "[dns]\nnegative_ttl = \"-5m\"\n", "dns.negative_ttl", 0, `got "-5m0s"`},
		{"upstreams as string", minimal + "[dns]\nupstreams = \"192.0.2.53\"\n", "dns.upstreams", 0, "expected an array, got a string"},
		{"bad upstream", minimal + "[dns]\nupstreams = [\"192.0.2.53:99999\"]\n", "dns.upstreams", 0, "entry 1: expected a port number"},
		{"dnsbl action", minimal + "[inbound]\ndnsbl_action = \"Reject\"\n", "inbound.dnsbl_action", 0, `got "Reject"`},
		{"dnsbl misspelt", minimal + "[inbound]\ndnsbls = []\n", "inbound.dnsbls", 0, "did you mean inbound.dnsbl?"},
		{"dnsbl timeout syntax", minimal + "[inbound]\ndnsbl_timeout = \"5 seconds\"\n", "inbound.dnsbl_timeout", 3, `expected a duration such as "2s", "500ms" or "1h", got "5 seconds"`},
		{"dnsbl timeout zero", minimal + "[inbound]\ndnsbl_timeout = \"0s\"\n", "inbound.dnsbl_timeout", 0, `expected a duration between 1ms and 30s (such as "5s"), got "0s"`},
		{"dnsbl timeout long", minimal + "[inbound]\ndnsbl_timeout = \"1m\"\n", "inbound.dnsbl_timeout", 0, `got "1m0s"`},
		{"invalid utf-8", minimal + "data_dir = \"é\xff\"\n", "data_dir", 2, "data_dir: invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			_, err := Load(path)
			ce := asError(t, err)
			if ce.Key != tt.key || ce.Line != tt.line || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got key %q line %d: %q\nwant key %q line %d containing %q", ce.Key, ce.Line, err, tt.key, tt.line, tt.want)
			}
			if ce.File != path || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error does not name the file: %q", err)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "posta.toml")
	_, err := Load(missing)
	ce := asError(t, err)
	if !errors.Is(err, fs.ErrNotExist) || ce.File != missing || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing file: %q", err)
	}
	_, err = Load(t.TempDir())
	if ce := asError(t, err); !strings.Contains(ce.Msg, "directory") {
		t.Errorf("directory: %q", err)
	}
	big := writeConfig(t, minimal+"#"+strings.Repeat("x", maxFileSize)+"\n")
	_, err = Load(big)
	if ce := asError(t, err); !strings.Contains(ce.Msg, "larger than") {
		t.Errorf("large file: %q", err)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "posta.toml", Key: "limits.max_message_size", Msg: "expected a positive number of bytes, got -1"},
			"posta.toml: limits.max_message_size: expected a positive number of bytes, got -1"},
		{Error{File: "/etc/posta.toml", Line: 3, Column: 7, Msg: "bare keys cannot contain '!'"},
			"/etc/posta.toml: line 3, column 7: bare keys cannot contain '!'"},
		{Error{File: "p.toml", Line: 2, Key: "a", Msg: "m"}, "p.toml: line 2: a: m"},
		{Error{File: "p.toml", Msg: "cannot read: permission denied"}, "p.toml: cannot read: permission denied"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"t\tn\nr\rb\bf\f", `"t\tn\nr\rb\bf\f"`},
		{"\x00\x1f\x7f\a\v", `"\u0000\u001f\u007f\u0007\u000b"`},
		{"città ✉", `"città ✉"`},
	}
	for _, tt := range tests {
		if got := quote(tt.in); got != tt.want {
			t.Errorf("quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestSchemaCoversConfig(t *testing.T) {
	// Every leaf of the schema is written by Write: a field added to Config without its line
	// in encode would otherwise be lost on a round trip.
	dir := t.TempDir()
	path := filepath.Join(dir, "posta.toml")
	if err := Default(dir, "mail.example.test", "", 0).Write(path); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(path)
	var walk func(prefix string, n *schemaNode)
	walk = func(prefix string, n *schemaNode) {
		for name, child := range n.children {
			if child.anyKey != nil {
				continue // a map is written as a table when it has entries (TestOutboundRoutes)
			}
			if child.children != nil {
				if !strings.Contains(string(text), "\n["+name+"]\n") {
					t.Errorf("Write omits table [%s]", name)
				}
				walk(name+".", child)
			} else if !strings.Contains(string(text), "\n"+name+" = ") {
				t.Errorf("Write omits %s%s", prefix, name)
			}
		}
	}
	walk("", schema)
}

func TestOutboundRoutes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "posta.toml")
	c := Default(dir, "mail.example.test", "", 0)
	c.Outbound.Routes = map[string]string{"*": "smarthost.example.net:587", "partner.example": "10.0.0.5:2525"}
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil || !reflect.DeepEqual(got.Outbound, c.Outbound) {
		t.Fatalf("round trip: %+v %v", got.Outbound, err)
	}
	for _, tt := range []struct{ body, key string }{
		{"[outbound]\nport = 0\n", "outbound.port"},
		{"[outbound.routes]\n\"x.test\" = \"nohost\"\n", "outbound.routes"},
		{"[outbound.routes]\n\"bad domain\" = \"h:25\"\n", "outbound.routes"},
		{"[outbound.routes]\n\"x.test\" = 25\n", "outbound.routes.\"x.test\""},
	} {
		os.WriteFile(path, []byte(minimal+tt.body), 0o600)
		_, err := Load(path)
		var ce *Error
		if !errors.As(err, &ce) || !strings.HasPrefix(ce.Key, tt.key) {
			t.Errorf("%q: %v, want an error about %s", tt.body, err, tt.key)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(minimal + "[listen]\nsmtp = \":25\"\n"))
	f.Add([]byte("[[x]]\n"))
	f.Add([]byte("hostname.a.b = 1\n"))
	f.Add([]byte("listen = { smtp = \"[::1]:25\", imap = \"127.0.0.1:143\" }\n"))
	f.Add([]byte("[database]\ndsn = \"postgres://u:p@h:5432/db\"\n"))
	var seed bytes.Buffer
	Default("/srv/posta", "mail.example.test", "127.0.0.1", 0).encode(&seed)
	f.Add(seed.Bytes())
	// The file system is left out (Load is parse after a read) to keep the fuzzer fast.
	const path = "/srv/posta/posta.toml"
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parse(path, b)
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("error %v is %T, not *config.Error", err, err)
			}
			return
		}
		// A loaded configuration is valid, and survives Write and Load unchanged.
		if err := c.Validate(); err != nil {
			t.Fatalf("Load returned an invalid configuration: %v", err)
		}
		var out bytes.Buffer
		c.encode(&out)
		back, err := parse(path, out.Bytes())
		if err != nil {
			t.Fatalf("reload: %v\n%s", err, out.Bytes())
		}
		if !reflect.DeepEqual(*back, *c) {
			t.Fatalf("round trip\n got %+v\nwant %+v", *back, *c)
		}
	})
}
