package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// maxFileSize bounds the file Load reads; a real posta.toml is a few kilobytes.
const maxFileSize = 1 << 20

// Load reads the file at path, rejects unknown keys and values of the wrong type, applies the
// defaults to absent keys, resolves relative paths against data_dir (itself relative to the
// file's directory) and validates the result. Every error is an *Error.
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data)
}

// parse is Load for the file at path holding data.
func parse(path string, data []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(data), &c)
	if pe, ok := errors.AsType[toml.ParseError](err); ok {
		return nil, &Error{File: path, Key: pe.LastKey, Line: pe.Position.Line,
			Column: column(data, pe.Position), Msg: pe.Message, Err: err}
	}
	// Check the keys against the schema before trusting the decoder: it matches keys without
	// regard to case and reports type mismatches only as text.
	if e := checkKeys(path, &md); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, &Error{File: path, Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, unknownKey(path, und[0])
	}
	c.applyDefaults(&md)
	if err := c.resolve(path); err != nil {
		return nil, err
	}
	if err := c.validate(path); err != nil {
		return nil, err
	}
	return &c, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read: " + causeOf(err), Err: err}
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, &Error{File: path, Msg: "is a directory, expected a TOML file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: "cannot read: " + causeOf(err), Err: err}
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes, which no posta.toml is", maxFileSize)}
	}
	return data, nil
}

// column returns the 1-based column, in characters, of the error at pos, or 0 if pos does not
// point into its line.
func column(data []byte, pos toml.Position) int {
	if pos.Line < 1 || pos.Start < 0 || pos.Start > len(data) {
		return 0
	}
	before := data[:pos.Start]
	if bytes.Count(before, []byte("\n"))+1 != pos.Line {
		return 0
	}
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return utf8.RuneCount(before[lineStart:]) + 1
}

// causeOf returns the operating system's reason without repeating the path.
func causeOf(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// applyDefaults fills the keys absent from the file. A key present with a zero value is kept,
// so that Validate reports it instead of silently replacing it.
func (c *Config) applyDefaults(md *toml.MetaData) {
	set := func(dst *string, def string, key ...string) {
		if !md.IsDefined(key...) {
			*dst = def
		}
	}
	set(&c.Log.Format, DefaultLogFormat, "log", "format")
	set(&c.Log.Level, DefaultLogLevel, "log", "level")
	set(&c.Database.DSN, DefaultDSN, "database", "dsn")
	set(&c.Blob.Dir, DefaultBlobDir, "blob", "dir")
	if !md.IsDefined("limits", "max_message_size") {
		c.Limits.MaxMessageSize = DefaultMaxMessageSize
	}
	if !md.IsDefined("limits", "max_recipients") {
		c.Limits.MaxRecipients = DefaultMaxRecipients
	}
	if !md.IsDefined("outbound", "port") {
		c.Outbound.Port = 25
	}
	set(&c.Inbound.DNSBLAction, DefaultDNSBLAction, "inbound", "dnsbl_action")
	dur := func(dst *Duration, def time.Duration, key ...string) {
		if !md.IsDefined(key...) {
			*dst = Duration(def)
		}
	}
	dur(&c.DNS.Timeout, DefaultDNSTimeout, "dns", "timeout")
	dur(&c.DNS.MaxTTL, DefaultDNSMaxTTL, "dns", "max_ttl")
	dur(&c.DNS.NegativeTTL, DefaultDNSNegativeTTL, "dns", "negative_ttl")
	dur(&c.Inbound.DNSBLTimeout, DefaultDNSBLTimeout, "inbound", "dnsbl_timeout")
	if !md.IsDefined("dns", "attempts") {
		c.DNS.Attempts = DefaultDNSAttempts
	}
	if !md.IsDefined("dns", "cache_size") {
		c.DNS.CacheSize = DefaultDNSCacheSize
	}
	// An empty array and an absent key mean the same: compare equal after a round trip.
	if len(c.DNS.Upstreams) == 0 {
		c.DNS.Upstreams = nil
	}
	if len(c.Inbound.DNSBL) == 0 {
		c.Inbound.DNSBL = nil
	}
}

// resolve makes data_dir absolute (relative to the directory of the file at path) and every
// other path absolute under it.
func (c *Config) resolve(path string) error {
	dir := c.DataDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(path), dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return &Error{File: path, Key: "data_dir", Msg: "cannot make the path absolute: " + err.Error(), Err: err}
	}
	c.DataDir = abs
	c.resolvePaths()
	return nil
}

// abs resolves p against DataDir; empty and absolute paths are returned unchanged.
func (c *Config) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

func (c *Config) resolvePaths() {
	if p, ok := c.SQLitePath(); ok {
		c.Database.DSN = "sqlite:" + c.abs(p)
	}
	c.Blob.Dir = c.abs(c.Blob.Dir)
	c.TLS.Cert = c.abs(c.TLS.Cert)
	c.TLS.Key = c.abs(c.TLS.Key)
	if c.Outbound.TLSRoots != "" {
		c.Outbound.TLSRoots = c.abs(c.Outbound.TLSRoots)
	}
}

// schemaNode is one key of the file's schema: a table (children set) or a value.
type schemaNode struct {
	tomlType string // the type name toml.MetaData.Type reports: "Hash", "String", ...
	children map[string]*schemaNode
	anyKey   *schemaNode // a map's values, under keys chosen by the file
}

// schema is derived from Config's toml tags, so that it cannot drift from the struct.
var schema = buildSchema(reflect.TypeFor[Config]())

func buildSchema(t reflect.Type) *schemaNode {
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return &schemaNode{tomlType: "String"} // such as Duration
	}
	switch t.Kind() {
	case reflect.Struct:
		n := &schemaNode{tomlType: "Hash", children: map[string]*schemaNode{}}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				panic("config: field " + f.Name + " has no toml tag")
			}
			n.children[name] = buildSchema(f.Type)
		}
		return n
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic("config: map keys must be strings: " + t.String())
		}
		return &schemaNode{tomlType: "Hash", anyKey: buildSchema(t.Elem())}
	case reflect.Slice:
		if t.Elem().Kind() != reflect.String {
			panic("config: only arrays of strings are supported: " + t.String())
		}
		return &schemaNode{tomlType: "Array"} // the decoder checks the elements' type
	case reflect.String:
		return &schemaNode{tomlType: "String"}
	case reflect.Bool:
		return &schemaNode{tomlType: "Bool"}
	case reflect.Int, reflect.Int64:
		return &schemaNode{tomlType: "Integer"}
	}
	panic("config: unsupported field type " + t.String())
}

// checkKeys reports the first key, in file order, that is not in the schema (compared exactly,
// case included) or whose value has the wrong type.
func checkKeys(file string, md *toml.MetaData) *Error {
	for _, key := range md.Keys() {
		n := schema
		for i, part := range key {
			if n.children == nil && n.anyKey == nil {
				// A dotted key or table below a value: the value itself has the wrong type.
				return typeError(file, key[:i], n, "Hash")
			}
			child, ok := n.children[part]
			if !ok && n.anyKey != nil {
				child, ok = n.anyKey, true
			}
			if !ok {
				return unknownKey(file, key[:i+1])
			}
			n = child
		}
		if got := md.Type(key...); got != "" && got != n.tomlType {
			return typeError(file, key, n, got)
		}
	}
	return nil
}

var typeNames = map[string]string{
	"Integer":   "an integer",
	"Float":     "a floating-point number",
	"String":    "a string",
	"Bool":      "a boolean (true or false)",
	"Datetime":  "a date-time",
	"Array":     "an array",
	"Hash":      "a table",
	"ArrayHash": "an array of tables",
}

func typeName(t string) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return strings.ToLower(t)
}

func typeError(file string, key toml.Key, want *schemaNode, got string) *Error {
	msg := fmt.Sprintf("expected %s, got %s", typeName(want.tomlType), typeName(got))
	if want.tomlType == "Hash" {
		msg = fmt.Sprintf("expected a table ([%s]), got %s", key, typeName(got))
	}
	return &Error{File: file, Key: key.String(), Msg: msg}
}

// unknownKey reports key as unknown, suggesting the nearest known key.
func unknownKey(file string, key toml.Key) *Error {
	msg := "unknown key"
	if s := suggest(key); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return &Error{File: file, Key: key.String(), Msg: msg}
}

// suggest returns a known key close to key: a sibling differing by case or by at most two
// edits, or a key of that name in another table.
func suggest(key toml.Key) string {
	parent := schema
	for _, p := range key[:len(key)-1] {
		if parent = parent.children[p]; parent == nil {
			return ""
		}
	}
	last := key[len(key)-1]
	best, bestDist := "", 3
	for name := range parent.children {
		d := editDistance(strings.ToLower(last), name)
		if d < bestDist || d == bestDist && name < best {
			best, bestDist = name, d
		}
	}
	if best != "" {
		return append(slices.Clone(key[:len(key)-1]), best).String()
	}
	// A key placed in the wrong table, such as smtp at the top level.
	var found []string
	for table, n := range schema.children {
		if _, ok := n.children[strings.ToLower(last)]; ok {
			found = append(found, table+"."+strings.ToLower(last))
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, by bytes; keys are short ASCII.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
