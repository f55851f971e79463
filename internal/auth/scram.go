package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/emersion/go-sasl"
)

// SCRAM-SHA-256 server side (RFC 5802, RFC 7677), without channel binding.

// ErrSCRAM is a failed SCRAM exchange (bad proof, malformed message or unknown user; the
// server does not say which).
var ErrSCRAM = errors.New("sasl SCRAM-SHA-256: authentication failed")

// SCRAMLookup returns the stored credentials of a user; an error ends the exchange after
// the proof, so that an unknown user looks like a wrong password.
type SCRAMLookup func(username string) (SCRAMCredentials, error)

// NewSCRAMServer returns a SCRAM-SHA-256 server. authenticated is called with the user once
// the client has proven it knows the password; its error fails the exchange.
func NewSCRAMServer(lookup SCRAMLookup, authenticated func(username string) error) sasl.Server {
	return &scramServer{lookup: lookup, authenticated: authenticated}
}

type scramServer struct {
	lookup        SCRAMLookup
	authenticated func(string) error
	step          int
	user          string
	creds         SCRAMCredentials
	known         bool
	clientBare    string
	gs2           string // the gs2 header the client sent, echoed in its final message
	serverFirst   string
	nonce         string
}

func scramAttrs(msg string) map[byte]string {
	out := map[byte]string{}
	for _, kv := range strings.Split(msg, ",") {
		if len(kv) >= 2 && kv[1] == '=' {
			out[kv[0]] = kv[2:]
		}
	}
	return out
}

func (s *scramServer) Next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		if resp == nil {
			return []byte{}, false, nil // ask for the client-first message
		}
		s.step = 1
		msg := string(resp)
		// gs2-header: "n" or "y" (channel binding, "p=", is not offered), then an optional
		// authorization identity "a=NAME", which may only name the user itself.
		cb, rest, ok1 := strings.Cut(msg, ",")
		authz, bare, ok2 := strings.Cut(rest, ",")
		if !ok1 || !ok2 || (cb != "n" && cb != "y") || (authz != "" && !strings.HasPrefix(authz, "a=")) {
			return nil, true, ErrSCRAM
		}
		s.gs2 = msg[:len(msg)-len(bare)]
		a := scramAttrs(bare)
		if a['n'] == "" || a['r'] == "" || a['m'] != "" {
			return nil, true, ErrSCRAM
		}
		unescape := strings.NewReplacer("=2C", ",", "=3D", "=")
		s.user = unescape.Replace(a['n'])
		if authz != "" && !strings.EqualFold(unescape.Replace(authz[2:]), s.user) {
			return nil, true, ErrSCRAM
		}
		s.clientBare = bare
		creds, err := s.lookup(s.user)
		if err == nil {
			s.creds, s.known = creds, true
		} else {
			// Go on with made-up credentials: the proof will fail like a wrong password.
			fake := make([]byte, 16)
			rand.Read(fake)
			s.creds = SCRAMCredentials{Salt: fake, Iterations: 4096, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}
		}
		nb := make([]byte, 18)
		rand.Read(nb)
		s.nonce = a['r'] + base64.RawStdEncoding.EncodeToString(nb)
		s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.creds.Salt) + ",i=" + strconv.Itoa(s.creds.Iterations)
		return []byte(s.serverFirst), false, nil
	case 1:
		s.step = 2
		msg := string(resp)
		i := strings.LastIndex(msg, ",p=")
		if i < 0 {
			return nil, true, ErrSCRAM
		}
		withoutProof := msg[:i]
		a := scramAttrs(msg)
		if a['r'] != s.nonce || a['c'] != base64.StdEncoding.EncodeToString([]byte(s.gs2)) {
			return nil, true, ErrSCRAM
		}
		proof, err := base64.StdEncoding.DecodeString(a['p'])
		if err != nil || len(proof) != sha256.Size {
			return nil, true, ErrSCRAM
		}
		authMsg := []byte(s.clientBare + "," + s.serverFirst + "," + withoutProof)
		sig := hmacSHA256(s.creds.StoredKey, authMsg)
		clientKey := make([]byte, len(proof))
		for k := range proof {
			clientKey[k] = proof[k] ^ sig[k]
		}
		stored := sha256.Sum256(clientKey)
		if !s.known || !hmac.Equal(stored[:], s.creds.StoredKey) {
			return nil, true, ErrSCRAM
		}
		if err := s.authenticated(s.user); err != nil {
			return nil, true, err
		}
		return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSHA256(s.creds.ServerKey, authMsg))), true, nil
	}
	return nil, true, ErrSCRAM
}

// NewSCRAMClient returns a SCRAM-SHA-256 client (used to log in to other servers, such as an
// old provider's IMAP server during a migration). It checks the server's signature.
func NewSCRAMClient(username, password string) sasl.Client {
	return &scramClient{user: username, pass: password}
}

type scramClient struct {
	user, pass string
	bare       string
	serverSig  []byte
}

func (c *scramClient) Start() (string, []byte, error) {
	nb := make([]byte, 18)
	rand.Read(nb)
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user)
	c.bare = "n=" + user + ",r=" + base64.RawStdEncoding.EncodeToString(nb)
	return "SCRAM-SHA-256", []byte("n,," + c.bare), nil
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	if c.serverSig != nil {
		if !hmac.Equal(challenge, []byte("v="+base64.StdEncoding.EncodeToString(c.serverSig))) {
			return nil, errors.New("sasl SCRAM-SHA-256: the server's signature is wrong")
		}
		return []byte{}, nil
	}
	a := scramAttrs(string(challenge))
	salt, err := base64.StdEncoding.DecodeString(a['s'])
	iter, ierr := strconv.Atoi(a['i'])
	if err != nil || ierr != nil || iter < 1 || !strings.HasPrefix(a['r'], strings.SplitN(c.bare, ",r=", 2)[1]) {
		return nil, errors.New("sasl SCRAM-SHA-256: malformed server-first message")
	}
	clientKey, creds, err := deriveSCRAM(c.pass, salt, iter)
	if err != nil {
		return nil, err
	}
	without := "c=biws,r=" + a['r']
	authMsg := []byte(c.bare + "," + string(challenge) + "," + without)
	sig := hmacSHA256(creds.StoredKey, authMsg)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	c.serverSig = hmacSHA256(creds.ServerKey, authMsg)
	return []byte(without + ",p=" + base64.StdEncoding.EncodeToString(clientKey)), nil
}
