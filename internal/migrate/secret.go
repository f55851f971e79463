package migrate

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// KeyFileName is the file, in the data directory, holding the key that encrypts source
// passwords. It is created at first use, readable by its owner only.
const KeyFileName = "migration.key"

// Sealer encrypts and decrypts source passwords with AES-256-GCM under a key kept in a file
// outside the database, so that a copy of the database alone does not reveal them.
type Sealer struct {
	path string
	once sync.Once
	aead cipher.AEAD
	err  error
}

// NewSealer returns a sealer whose key is in the file path (created on first use).
func NewSealer(path string) *Sealer { return &Sealer{path: path} }

func (s *Sealer) load() (cipher.AEAD, error) {
	s.once.Do(func() {
		key, err := readOrCreateKey(s.path)
		if err != nil {
			s.err = err
			return
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			s.err = err
			return
		}
		s.aead, s.err = cipher.NewGCM(block)
	})
	return s.aead, s.err
}

func readOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("migrate: key file %s holds %d bytes, want 32", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("migrate: key file: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("migrate: key file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		return readOrCreateKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: key file: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("migrate: key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("migrate: key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return key, nil
}

// Seal encrypts a password; the job id is bound as associated data, so a sealed password
// cannot be moved to another job.
func (s *Sealer) Seal(password string, jobID int64) ([]byte, error) {
	aead, err := s.load()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(password), ad(jobID)), nil
}

// Open decrypts what Seal returned.
func (s *Sealer) Open(sealed []byte, jobID int64) (string, error) {
	aead, err := s.load()
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("migrate: sealed password too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad(jobID))
	if err != nil {
		return "", fmt.Errorf("migrate: the source password cannot be decrypted (was %s replaced?): %w", KeyFileName, err)
	}
	return string(pt), nil
}

func ad(jobID int64) []byte { return fmt.Appendf(nil, "posta-migration-job:%d", jobID) }
