// Package auth owns the secrets of logging in: argon2id password hashing, the password policy,
// generated passwords, SCRAM-SHA-256 credentials, and the throttling of failed logins shared by
// every protocol. It stores nothing: the directory keeps the hashes it produces.
package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash is returned for an encoded hash this package cannot read.
var ErrMalformedHash = errors.New("malformed password hash")

// ErrInvalidCredentials is the one error every failed login gets, whatever the reason.
var ErrInvalidCredentials = errors.New("invalid credentials")

// Params are argon2id parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultParams are OWASP's recommended argon2id parameters: 19 MiB, 2 passes, 1 lane.
func DefaultParams() Params {
	return Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

var b64 = base64.RawStdEncoding

// Hasher hashes and verifies passwords with fixed parameters.
type Hasher struct {
	Params Params
	// SCRAMIterations is the PBKDF2 iteration count of SCRAM-SHA-256 credentials (RFC 7677
	// recommends at least 4096).
	SCRAMIterations int
	dummy           string
	cache           *verifyCache
}

// NewHasher returns a hasher with p.
func NewHasher(p Params) *Hasher {
	h := &Hasher{Params: p, SCRAMIterations: 4096}
	h.dummy, _ = h.HashPassword("posta-dummy-password")
	return h
}

// CacheSuccesses makes Verify remember successful verifications for ttl (at most max of
// them): mail clients log in again and again, sometimes over several connections at once, and
// each argon2id verification costs tens of milliseconds and its memory parameter in RAM. An
// entry is keyed by a salted SHA-256 of the stored hash and the password, so a changed
// password (a new stored hash) never matches an old entry, and nothing in memory is the
// password or enough to log in elsewhere.
func (h *Hasher) CacheSuccesses(ttl time.Duration, max int) {
	salt := make([]byte, 32)
	rand.Read(salt)
	h.cache = &verifyCache{ttl: ttl, max: max, salt: salt, m: map[[32]byte]time.Time{}, now: time.Now}
}

type verifyCache struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	salt []byte
	m    map[[32]byte]time.Time
	now  func() time.Time
}

func (c *verifyCache) key(hash, pw string) [32]byte {
	m := sha256.New()
	m.Write(c.salt)
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (c *verifyCache) hit(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.m[k]
	return ok && c.now().Before(exp)
}

func (c *verifyCache) put(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		now := c.now()
		for kk, exp := range c.m {
			if now.After(exp) || len(c.m) >= c.max {
				delete(c.m, kk)
			}
		}
	}
	c.m[k] = c.now().Add(c.ttl)
}

// HashPassword returns the PHC string of pw: $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func (h *Hasher) HashPassword(pw string) (string, error) {
	p := h.Params
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks pw against an encoded hash in constant time. needsRehash is true when
// the hash was made with other parameters than the hasher's.
func (h *Hasher) VerifyPassword(encoded, pw string) (ok, needsRehash bool, err error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	needsRehash = p.Memory != h.Params.Memory || p.Time != h.Params.Time || p.Threads != h.Params.Threads
	return ok, needsRehash, nil
}

// VerifyDummy spends the time of one verification, for logins of unknown users, so that timing
// does not reveal whether an account exists.
func (h *Hasher) VerifyDummy(pw string) { h.VerifyPassword(h.dummy, pw) }

func decodeHash(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	var p Params
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, nil, nil, ErrMalformedHash
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return p, nil, nil, ErrMalformedHash
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return p, nil, nil, ErrMalformedHash
			}
			p.Threads = uint8(n)
		default:
			return p, nil, nil, ErrMalformedHash
		}
	}
	// Refuse absurd costs from a tampered database (memory above 1 GiB, 100 passes).
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 || p.Memory > 1<<20 || p.Time > 100 {
		return p, nil, nil, ErrMalformedHash
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}

// SCRAM-SHA-256 credentials (RFC 5802, RFC 7677), derived when a password is set so that the
// server never needs the password for a SCRAM login.

// SCRAMCredentials are what a server stores for SCRAM-SHA-256.
type SCRAMCredentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// NewSCRAMCredentials derives SCRAM-SHA-256 credentials from pw.
func NewSCRAMCredentials(pw string, iterations int) (SCRAMCredentials, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return SCRAMCredentials{}, err
	}
	_, c, err := deriveSCRAM(pw, salt, iterations)
	return c, err
}

// deriveSCRAM computes the client key and the credentials a server stores (RFC 5802 §3).
func deriveSCRAM(pw string, salt []byte, iterations int) (clientKey []byte, c SCRAMCredentials, err error) {
	salted, err := pbkdf2.Key(sha256.New, pw, salt, iterations, sha256.Size)
	if err != nil {
		return nil, SCRAMCredentials{}, err
	}
	clientKey = hmacSHA256(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	return clientKey, SCRAMCredentials{Salt: salt, Iterations: iterations, StoredKey: stored[:], ServerKey: hmacSHA256(salted, []byte("Server Key"))}, nil
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// String encodes the credentials as SCRAM-SHA-256$iter:salt$stored:server (PostgreSQL's form).
func (c SCRAMCredentials) String() string {
	e := base64.StdEncoding
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", c.Iterations, e.EncodeToString(c.Salt), e.EncodeToString(c.StoredKey), e.EncodeToString(c.ServerKey))
}

// ParseSCRAMCredentials decodes String's form.
func ParseSCRAMCredentials(s string) (SCRAMCredentials, error) {
	var c SCRAMCredentials
	rest, ok := strings.CutPrefix(s, "SCRAM-SHA-256$")
	if !ok {
		return c, ErrMalformedHash
	}
	a, b, ok := strings.Cut(rest, "$")
	it, salt, ok1 := strings.Cut(a, ":")
	st, sv, ok2 := strings.Cut(b, ":")
	if !ok || !ok1 || !ok2 {
		return c, ErrMalformedHash
	}
	e := base64.StdEncoding
	var errs [4]error
	c.Iterations, errs[0] = strconv.Atoi(it)
	c.Salt, errs[1] = e.DecodeString(salt)
	c.StoredKey, errs[2] = e.DecodeString(st)
	c.ServerKey, errs[3] = e.DecodeString(sv)
	if errors.Join(errs[:]...) != nil || c.Iterations < 1 || len(c.StoredKey) != 32 || len(c.ServerKey) != 32 {
		return SCRAMCredentials{}, ErrMalformedHash
	}
	return c, nil
}

// Hash returns the argon2id hash and the SCRAM credentials of pw (what the directory stores).
func (h *Hasher) Hash(pw string) (hash, scram string, err error) {
	if hash, err = h.HashPassword(pw); err != nil {
		return "", "", err
	}
	c, err := NewSCRAMCredentials(pw, h.SCRAMIterations)
	if err != nil {
		return "", "", err
	}
	return hash, c.String(), nil
}

// Verify reports whether pw matches hash (from the cache of successes when it is on).
func (h *Hasher) Verify(hash, pw string) (bool, error) {
	var k [32]byte
	if h.cache != nil {
		if k = h.cache.key(hash, pw); h.cache.hit(k) {
			return true, nil
		}
	}
	ok, _, err := h.VerifyPassword(hash, pw)
	if ok && err == nil && h.cache != nil {
		h.cache.put(k)
	}
	return ok, err
}

// PolicyError says why a password was refused.
type PolicyError struct{ Reason string }

func (e *PolicyError) Error() string { return "password " + e.Reason }

// CheckPolicy refuses passwords shorter than minLen (10 when minLen <= 0), made of one repeated
// character, among the most common passwords, or containing the account's local part.
func (h *Hasher) CheckPolicy(pw string, minLen int, localPart string) error {
	return CheckPassword(pw, minLen, localPart)
}

// CheckPassword is the password policy; see Hasher.CheckPolicy.
func CheckPassword(pw string, minLen int, localPart string) error {
	if minLen <= 0 {
		minLen = 10
	}
	n := len([]rune(pw))
	if n < minLen {
		return &PolicyError{fmt.Sprintf("is too short: %d characters, at least %d required", n, minLen)}
	}
	if n > 1024 {
		return &PolicyError{"is too long: at most 1024 characters"}
	}
	if strings.Count(pw, string([]rune(pw)[:1])) == len(pw) {
		return &PolicyError{"repeats a single character"}
	}
	lower := strings.ToLower(pw)
	if commonPasswords[lower] {
		return &PolicyError{"is one of the most common passwords"}
	}
	if lp := strings.ToLower(localPart); len(lp) >= 3 && strings.Contains(lower, lp) {
		return &PolicyError{"contains the address it protects"}
	}
	for _, r := range pw {
		if unicode.IsControl(r) {
			return &PolicyError{"contains control characters"}
		}
	}
	return nil
}

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Fields(`1234567890 12345678910 123456789a 0123456789 1q2w3e4r5t qwertyuiop
		password1 password12 password123 passw0rd123 iloveyou123 1234554321 1111111111 0987654321
		qwerty1234 qwerty12345 abcdefghij abc1234567 a123456789 asdfghjkl1 zxcvbnm123 football12
		welcome123 letmein123 admin12345 administrator changeme123 princess12 sunshine12 superman12
		password2024 password2025 password2026 passwordpassword trustno1trustno1 dragon1234
		qazwsxedcrfv 1qaz2wsx3edc mypassword1 ciao123456 password01 benvenuto1 amore12345`) {
		m[p] = true
	}
	return m
}()

// GeneratePassword returns a random password of n characters (16 when n < 12) from an
// unambiguous alphabet, with at least one lower-case letter, upper-case letter and digit.
func GeneratePassword(n int) string {
	if n < 12 {
		n = 16
	}
	const lower, upper, digits = "abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789"
	all := lower + upper + digits
	pick := func(set string) byte {
		i, _ := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		return set[i.Int64()]
	}
	for {
		b := make([]byte, n)
		for i := range b {
			b[i] = pick(all)
		}
		s := string(b)
		if strings.ContainsAny(s, lower) && strings.ContainsAny(s, upper) && strings.ContainsAny(s, digits) {
			return s
		}
	}
}
