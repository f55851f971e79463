package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

func fastHasher() *Hasher {
	return NewHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
}

func TestHashVerify(t *testing.T) {
	h := fastHasher()
	enc, err := h.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("encoding %q", enc)
	}
	if ok, rehash, err := h.VerifyPassword(enc, "correct horse battery"); !ok || rehash || err != nil {
		t.Fatalf("verify right: %v %v %v", ok, rehash, err)
	}
	if ok, _, _ := h.VerifyPassword(enc, "wrong horse battery"); ok {
		t.Fatal("wrong password accepted")
	}
	stronger := NewHasher(DefaultParams())
	if _, rehash, _ := stronger.VerifyPassword(enc, "x"); !rehash {
		t.Fatal("old parameters not flagged for rehash")
	}
}

// TestInteroperableEncoding builds a PHC string with x/crypto directly, as another
// implementation would, and checks it verifies.
func TestInteroperableEncoding(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte("pencil"), salt, 2, 19456, 1, 32)
	enc := "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString(salt) + "$" + base64.RawStdEncoding.EncodeToString(key)
	if ok, _, err := fastHasher().VerifyPassword(enc, "pencil"); !ok || err != nil {
		t.Fatalf("foreign encoding: %v %v", ok, err)
	}
}

func TestMalformedHashes(t *testing.T) {
	h := fastHasher()
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", "$argon2id$v=19$m=64,t=1,p=1$!!$a2V5"} {
		if _, _, err := h.VerifyPassword(enc, "x"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("VerifyPassword(%q) err %v", enc, err)
		}
	}
}

func TestPolicy(t *testing.T) {
	tests := []struct {
		pw, local string
		min       int
		want      string
	}{
		{"short", "", 0, "too short: 5 characters, at least 10"},
		{"aaaaaaaaaaaa", "", 0, "single character"},
		{"Password123", "", 0, "common"},
		{"mario.rossi-2026!", "mario.rossi", 0, "address"},
		{"Tr0ub4dor&3xyz", "mario", 0, ""},
		{"ok-for-cos-8", "", 8, ""},
		{"città-sicura-42", "", 0, ""},
	}
	for _, tt := range tests {
		err := CheckPassword(tt.pw, tt.min, tt.local)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckPassword(%q) = %v, want %q", tt.pw, err, tt.want)
		}
	}
	for i := 0; i < 50; i++ {
		if pw := GeneratePassword(0); len(pw) != 16 || CheckPassword(pw, 0, "") != nil {
			t.Fatalf("generated %q fails the policy", pw)
		}
	}
}

func TestSCRAMCredentials(t *testing.T) {
	// RFC 7677 §3 example: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096.
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	_, c, err := deriveSCRAM("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// ServerSignature in the RFC is HMAC(ServerKey, AuthMessage); check ServerKey through it.
	auth := "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	if got := base64.StdEncoding.EncodeToString(hmacSHA256(c.ServerKey, []byte(auth))); got != "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server signature %s", got)
	}
	back, err := ParseSCRAMCredentials(c.String())
	if err != nil || back.Iterations != 4096 || string(back.StoredKey) != string(c.StoredKey) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := ParseSCRAMCredentials("SCRAM-SHA-256$x"); !errors.Is(err, ErrMalformedHash) {
		t.Fatal("malformed scram accepted")
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewThrottle(ThrottleConfig{FreeAttempts: 2, Base: time.Second, Max: 8 * time.Second, Window: time.Minute}, func() time.Time { return now })
	ip := netip.MustParseAddr("192.0.2.1")
	steps := []struct {
		fail bool
		want time.Duration
	}{
		{true, 0}, {true, 0}, {true, time.Second}, {true, 2 * time.Second}, {true, 4 * time.Second},
		{true, 8 * time.Second}, {true, 8 * time.Second},
	}
	for i, s := range steps {
		th.Failure(ip, "Mario@X.test")
		if got := th.Check(ip, "other@x.test"); got != s.want {
			t.Fatalf("step %d: ip wait %v, want %v", i, got, s.want)
		}
		if got := th.Check(netip.MustParseAddr("198.51.100.7"), "mario@x.test"); got != s.want {
			t.Fatalf("step %d: account wait %v, want %v", i, got, s.want)
		}
	}
	// IPv6 addresses of the same /64 share a counter.
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff")
	for i := 0; i < 3; i++ {
		th.Failure(a, "")
	}
	if th.Check(b, "") == 0 {
		t.Fatal("same /64 not throttled")
	}
	th.Success(ip, "mario@x.test")
	if th.Check(netip.MustParseAddr("203.0.113.9"), "mario@x.test") != 0 {
		t.Fatal("success did not clear the account")
	}
	now = now.Add(2 * time.Minute)
	if th.Check(ip, "") != 0 {
		t.Fatal("window did not expire the ip")
	}
	small := NewThrottle(ThrottleConfig{MaxEntries: 10}, nil)
	for i := 0; i < 1000; i++ {
		small.Failure(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), "")
	}
	if len(small.entries) > 10 {
		t.Fatalf("%d entries, bound is 10", len(small.entries))
	}
}

func FuzzVerifyPassword(f *testing.F) {
	h := fastHasher()
	enc, _ := h.HashPassword("x")
	f.Add(enc, "x")
	f.Add("$argon2id$v=19$m=1,t=1,p=1$$", "")
	f.Fuzz(func(t *testing.T, enc, pw string) {
		h.VerifyPassword(enc, pw)
		ParseSCRAMCredentials(enc)
	})
}

func BenchmarkHashPassword(b *testing.B) {
	h := NewHasher(DefaultParams())
	for i := 0; i < b.N; i++ {
		h.HashPassword("benchmark password")
	}
}

func TestLoginServer(t *testing.T) {
	var gotU, gotP string
	auth := func(u, p string) error { gotU, gotP = u, p; return nil }
	s := NewLoginServer(auth)
	if c, done, err := s.Next(nil); string(c) != "Username:" || done || err != nil {
		t.Fatalf("step 1: %q %v %v", c, done, err)
	}
	if c, done, err := s.Next([]byte("mario")); string(c) != "Password:" || done || err != nil {
		t.Fatalf("step 2: %q %v %v", c, done, err)
	}
	if _, done, err := s.Next([]byte("secret")); !done || err != nil || gotU != "mario" || gotP != "secret" {
		t.Fatalf("step 3: %v %v %q %q", done, err, gotU, gotP)
	}
	// Username as initial response.
	s = NewLoginServer(auth)
	if c, _, _ := s.Next([]byte("anna")); string(c) != "Password:" {
		t.Fatalf("initial response: %q", c)
	}
	s.Next([]byte("pw"))
	if gotU != "anna" {
		t.Fatalf("user %q", gotU)
	}
	if _, _, err := s.Next([]byte("more")); err == nil {
		t.Fatal("extra step accepted")
	}
}

// scramExchange runs NewSCRAMClient against srv.
func scramExchange(srv interface {
	Next([]byte) ([]byte, bool, error)
}, user, pw string) error {
	c := NewSCRAMClient(user, pw)
	_, resp, _ := c.Start()
	for i := 0; i < 4; i++ {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			return err
		}
		if resp, err = c.Next(challenge); err != nil {
			return err
		}
		if done {
			return nil
		}
	}
	return fmt.Errorf("no end")
}

// scramExchangeAuthz runs an exchange whose client sends "a=USER" in its gs2 header.
func scramExchangeAuthz(srv interface {
	Next([]byte) ([]byte, bool, error)
}, user, pw string) error {
	bare := "n=" + user + ",r=clientnonce"
	first, _, err := srv.Next([]byte("n,a=" + user + "," + bare))
	if err != nil {
		return err
	}
	a := scramAttrs(string(first))
	salt, _ := base64.StdEncoding.DecodeString(a['s'])
	clientKey, creds, _ := deriveSCRAM(pw, salt, 4096)
	without := "c=" + base64.StdEncoding.EncodeToString([]byte("n,a="+user+",")) + ",r=" + a['r']
	sig := hmacSHA256(creds.StoredKey, []byte(bare+","+string(first)+","+without))
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	_, _, err = srv.Next([]byte(without + ",p=" + base64.StdEncoding.EncodeToString(clientKey)))
	return err
}

func TestSCRAMServer(t *testing.T) {
	creds, err := NewSCRAMCredentials("pencil", 4096)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(u string) (SCRAMCredentials, error) {
		if u == "user" {
			return creds, nil
		}
		return SCRAMCredentials{}, errors.New("no such user")
	}
	var got string
	ok := func(u string) error { got = u; return nil }
	if err := scramExchange(NewSCRAMServer(lookup, ok), "user", "pencil"); err != nil || got != "user" {
		t.Fatalf("good password: %v (authenticated %q)", err, got)
	}
	for _, tt := range []struct{ user, pw string }{{"user", "wrong"}, {"nobody", "pencil"}} {
		if err := scramExchange(NewSCRAMServer(lookup, ok), tt.user, tt.pw); !errors.Is(err, ErrSCRAM) {
			t.Errorf("%s/%s: %v, want ErrSCRAM", tt.user, tt.pw, err)
		}
	}
	// An authorization identity naming the user itself is fine (mbsync and mutt send one).
	if err := scramExchangeAuthz(NewSCRAMServer(lookup, ok), "user", "pencil"); err != nil {
		t.Errorf("with a=user: %v", err)
	}
	for _, bad := range []string{"p=tls-unique,,n=user,r=x", "n,,r=x", "garbage", "n,,n=user,r=x,m=ext", "n,a=other,n=user,r=x", "n,x=y,n=user,r=x"} {
		if _, _, err := NewSCRAMServer(lookup, ok).Next([]byte(bad)); !errors.Is(err, ErrSCRAM) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	s := NewSCRAMServer(lookup, ok)
	s.Next([]byte("n,,n=user,r=abc"))
	if _, _, err := s.Next([]byte("c=biws,r=wrongnonce,p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)))); !errors.Is(err, ErrSCRAM) {
		t.Errorf("wrong nonce: %v", err)
	}
}

func TestTOTP(t *testing.T) {
	// RFC 6238 appendix B, SHA-1, truncated to six digits.
	secret := b32.EncodeToString([]byte("12345678901234567890"))
	for _, tt := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		if got, err := TOTPCode(secret, time.Unix(tt.unix, 0)); err != nil || got != tt.want {
			t.Errorf("TOTP at %d = %s %v, want %s", tt.unix, got, err, tt.want)
		}
	}
	now := time.Unix(1234567890, 0)
	for _, tt := range []struct {
		code string
		at   time.Time
		ok   bool
	}{{"005924", now, true}, {"005924", now.Add(29 * time.Second), true}, {"005924", now.Add(95 * time.Second), false}, {"000000", now, false}, {"5924", now, false}} {
		if got := CheckTOTP(secret, tt.code, tt.at); got != tt.ok {
			t.Errorf("CheckTOTP(%s at %v) = %v", tt.code, tt.at.Unix(), got)
		}
	}
	if !strings.HasPrefix(TOTPURI("posta", "a@b.c", NewTOTPSecret()), "otpauth://totp/posta:a@b.c?") {
		t.Error("URI")
	}
}

func TestVerifyCache(t *testing.T) {
	h := fastHasher()
	h.CacheSuccesses(time.Minute, 2)
	now := time.Now()
	h.cache.now = func() time.Time { return now }
	enc, _ := h.HashPassword("correct horse battery")
	for i := 0; i < 3; i++ {
		if ok, err := h.Verify(enc, "correct horse battery"); !ok || err != nil {
			t.Fatalf("verify %d: %v %v", i, ok, err)
		}
	}
	if len(h.cache.m) != 1 {
		t.Fatalf("%d cache entries", len(h.cache.m))
	}
	if ok, _ := h.Verify(enc, "wrong"); ok {
		t.Fatal("a wrong password passed")
	}
	// A new hash of the same password is another entry; an old one does not carry over.
	enc2, _ := h.HashPassword("correct horse battery")
	if ok, _ := h.Verify(enc2, "correct horse battery"); !ok {
		t.Fatal("new hash")
	}
	now = now.Add(2 * time.Minute)
	if h.cache.hit(h.cache.key(enc2, "correct horse battery")) {
		t.Fatal("an expired entry still hits")
	}
	h.Verify(enc, "correct horse battery")
	h.Verify(enc2, "correct horse battery")
	enc3, _ := h.HashPassword("x")
	h.Verify(enc3, "x")
	if len(h.cache.m) > 2 {
		t.Fatalf("cache over its bound: %d", len(h.cache.m))
	}
}
