// Package blob stores message and file bodies on the local filesystem, content-addressed by
// SHA-256: one file per distinct content, written to a temporary file, fsync'd, renamed into
// place and its directory fsync'd, so a blob is either complete under its final name or absent.
// Blobs live in 256 fan-out directories named by the key's first two hex digits, all created
// when the store is opened, so storing a blob never creates a directory.
// Writers can stage many blobs and make them durable together (Sync), which lets the mailstore
// group-commit deliveries.
//
// The package keeps no reference counts: which blobs are in use is the mailstore's business (it
// counts references in the database and tells Sweep which keys are referenced).
package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Errors returned by the store.
var (
	ErrNotFound   = errors.New("blob not found")
	ErrCorrupt    = errors.New("blob content does not match its key")
	ErrInvalidKey = errors.New("invalid blob key")
)

// Ref names a stored blob.
type Ref struct {
	Key  string
	Size int64
}

// RefOf returns the reference content b would be stored under.
func RefOf(b []byte) Ref {
	h := sha256.Sum256(b)
	return Ref{Key: hex.EncodeToString(h[:]), Size: int64(len(b))}
}

// Store is a directory of blobs.
type Store struct {
	dir       string
	tmp       string
	noUnnamed atomic.Bool // the filesystem refused an unnamed file once: use named ones
}

// Open opens (creating it if needed) the blob directory, creates the fan-out directories,
// moves blobs of the earlier two-level layout (ab/cd/key) into place and removes temporary files
// left by a crash.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, tmp: filepath.Join(dir, "tmp")}
	if err := os.MkdirAll(s.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	for _, e := range entries {
		os.Remove(filepath.Join(s.tmp, e.Name()))
	}
	created := false
	for i := 0; i < 256; i++ {
		fan := filepath.Join(dir, fmt.Sprintf("%02x", i))
		switch err := os.Mkdir(fan, 0o700); {
		case err == nil:
			created = true
		case !errors.Is(err, fs.ErrExist):
			return nil, fmt.Errorf("blob: %w", err)
		}
		if err := flatten(fan); err != nil {
			return nil, fmt.Errorf("blob: moving %s to the one-level layout: %w", fan, err)
		}
	}
	if created {
		if err := syncFile(dir); err != nil {
			return nil, fmt.Errorf("blob: sync dir: %w", err)
		}
	}
	return s, nil
}

// flatten moves the blobs of fan's subdirectories (the two-level layout) into fan itself.
func flatten(fan string) error {
	entries, err := os.ReadDir(fan)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		moved := false
		sub := filepath.Join(fan, e.Name())
		blobs, err := os.ReadDir(sub)
		if err != nil {
			return err
		}
		for _, b := range blobs {
			if !ValidKey(b.Name()) {
				continue
			}
			if err := os.Rename(filepath.Join(sub, b.Name()), filepath.Join(fan, b.Name())); err != nil {
				return err
			}
			moved = true
		}
		if moved {
			if err := syncFile(fan); err != nil {
				return err
			}
		}
		if err := os.Remove(sub); err != nil {
			return err
		}
	}
	return nil
}

// ValidKey reports whether key is a well-formed blob key (64 lowercase hex digits).
func ValidKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *Store) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return filepath.Join(s.dir, key[:2], key), nil
}

// Staged is a blob written under its final name but not yet durable; pass it to Sync.
type Staged struct {
	ref     Ref
	path    string
	written bool   // false when the content already existed
	dir     string // the fan-out directory that received it
}

// Ref returns the staged blob's reference.
func (st *Staged) Ref() Ref { return st.ref }

// Stage writes r's content under its key and fsyncs it; the new directory entry becomes durable
// with Sync. Content is complete before it becomes visible under its final name (written to an
// unnamed or temporary file, then linked or renamed). If the blob already exists its
// modification time is refreshed, so a sweep running now sees it as recent.
func (s *Store) Stage(ctx context.Context, r io.Reader) (*Staged, error) {
	t, err := s.createTemp()
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	defer func() {
		if t != nil {
			t.discard()
		}
	}()
	h := sha256.New()
	var src io.Reader = ctxReader{ctx, r}
	if br, ok := r.(*bytes.Reader); ok {
		src = br // in memory: nothing to wait for, and written in one piece without a buffer
	}
	n, err := io.Copy(io.MultiWriter(t.f, h), src)
	if err != nil {
		return nil, fmt.Errorf("blob: write: %w", err)
	}
	key := hex.EncodeToString(h.Sum(nil))
	final, _ := s.path(key)
	st := &Staged{ref: Ref{Key: key, Size: n}, path: final}
	if _, err := os.Stat(final); err == nil {
		now := time.Now()
		os.Chtimes(final, now, now)
		return st, nil // deduplicated: the deferred cleanup drops the temporary file
	}
	// Sync the content before it gets its name, so that no crash can leave a partially
	// written file under a valid key (on filesystems that may reorder data and metadata).
	if err := t.f.Sync(); err != nil {
		return nil, fmt.Errorf("blob: sync: %w", err)
	}
	switch err := t.place(final); {
	case errors.Is(err, fs.ErrExist):
		return st, nil // stored meanwhile by a concurrent writer
	case err != nil:
		return nil, fmt.Errorf("blob: %w", err)
	}
	t = nil
	st.written = true
	st.dir = filepath.Dir(final)
	return st, nil
}

// temp is a file being written before it gets its name: unnamed (O_TMPFILE) where the system
// has them, which leaves nothing behind after a crash and takes no directory lock, else a
// temporary file in the tmp directory.
type temp struct {
	f    *os.File
	name string // "" for an unnamed file
}

func (s *Store) createTemp() (*temp, error) {
	if !s.noUnnamed.Load() {
		f, err := openUnnamed(s.tmp)
		if err == nil {
			return &temp{f: f}, nil
		}
		s.noUnnamed.Store(true)
	}
	f, err := os.CreateTemp(s.tmp, "w-")
	if err != nil {
		return nil, err
	}
	return &temp{f: f, name: f.Name()}, nil
}

// place gives the written file its final name and closes it; an existing file of that name
// is kept (fs.ErrExist for an unnamed file, replaced by the same content for a named one).
func (t *temp) place(final string) error {
	var err error
	if t.name == "" {
		err = linkUnnamed(t.f, final)
	} else {
		err = os.Rename(t.name, final)
	}
	if err != nil {
		return err
	}
	return t.f.Close()
}

func (t *temp) discard() {
	t.f.Close()
	if t.name != "" {
		os.Remove(t.name)
	}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Sync makes staged blobs durable: each fan-out directory that received a new entry is fsync'd
// once (file contents were synced by Stage before their rename). The directories are synced
// concurrently, which lets the filesystem commit them together.
func (s *Store) Sync(ctx context.Context, staged ...*Staged) error {
	dirs := map[string]bool{}
	for _, st := range staged {
		if st != nil && st.written {
			dirs[st.dir] = true
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(dirs) == 1 {
		for d := range dirs {
			return syncDir(d)
		}
	}
	errs := make(chan error, len(dirs))
	sem := make(chan struct{}, 16)
	for d := range dirs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- syncDir(d)
		}()
	}
	var first error
	for range dirs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func syncDir(dir string) error {
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("blob: sync dir: %w", err)
	}
	return nil
}

// Put writes r's content durably and returns its reference.
func (s *Store) Put(ctx context.Context, r io.Reader) (Ref, error) {
	st, err := s.Stage(ctx, r)
	if err != nil {
		return Ref{}, err
	}
	return st.ref, s.Sync(ctx, st)
}

// Open opens a blob for reading.
func (s *Store) Open(ctx context.Context, key string) (*os.File, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return f, err
}

// Stat returns a blob's size.
func (s *Store) Stat(ctx context.Context, key string) (int64, error) {
	p, err := s.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Remove deletes a blob; removing a missing blob is not an error.
func (s *Store) Remove(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: remove: %w", err)
	}
	return nil
}

// Verify re-hashes a blob and reports ErrCorrupt if its content does not match its key.
func (s *Store) Verify(ctx context.Context, key string) error {
	f, err := s.Open(ctx, key)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != key {
		return fmt.Errorf("%w: %s", ErrCorrupt, key)
	}
	return nil
}

// Walk calls fn for every blob (temporary files excluded).
func (s *Store) Walk(ctx context.Context, fn func(key string, size int64, modTime time.Time) error) error {
	return filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == s.tmp {
				return filepath.SkipDir
			}
			return ctx.Err()
		}
		name := d.Name()
		if !ValidKey(name) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return fn(name, fi.Size(), fi.ModTime())
	})
}

// Sweep removes blobs that referenced reports as unreferenced and that were last written more
// than olderThan ago. The grace period protects blobs staged for a delivery whose transaction
// has not committed yet. It returns the number removed.
func (s *Store) Sweep(ctx context.Context, referenced func(ctx context.Context, keys []string) (map[string]bool, error), olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	var batch []string
	removed := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		refs, err := referenced(ctx, batch)
		if err != nil {
			return err
		}
		for _, k := range batch {
			if refs[k] {
				continue
			}
			p, _ := s.path(k)
			// Re-check the time right before removing: a delivery may have just reused it.
			if fi, err := os.Stat(p); err != nil || fi.ModTime().After(cutoff) {
				continue
			}
			if err := os.Remove(p); err == nil {
				removed++
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.Walk(ctx, func(key string, size int64, mt time.Time) error {
		if mt.After(cutoff) {
			return nil
		}
		batch = append(batch, key)
		if len(batch) >= 500 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return removed, err
	}
	return removed, flush()
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
