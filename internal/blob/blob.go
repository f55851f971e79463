// Package blob stores message and file bodies on the local filesystem, content-addressed by
// SHA-256: one file per distinct content, written to a temporary file, fsync'd, renamed into
// place and its directory fsync'd, so a blob is either complete under its final name or absent.
// Writers can stage many blobs and make them durable together (Sync), which lets the mailstore
// group-commit deliveries.
//
// The package keeps no reference counts: which blobs are in use is the mailstore's business (it
// counts references in the database and tells Sweep which keys are referenced).
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
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

// Store is a directory of blobs.
type Store struct {
	dir string
	tmp string
}

// Open opens (creating it if needed) the blob directory and removes temporary files left by a
// crash.
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
	return s, nil
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
	return filepath.Join(s.dir, key[:2], key[2:4], key), nil
}

// Staged is a blob written under its final name but not yet durable; pass it to Sync.
type Staged struct {
	ref     Ref
	path    string
	written bool // false when the content already existed
	dirs    []string
}

// Ref returns the staged blob's reference.
func (st *Staged) Ref() Ref { return st.ref }

// Stage writes r's content under its key without fsync. Content is complete before it becomes
// visible under its final name (write to tmp, then rename). If the blob already exists its
// modification time is refreshed, so a sweep running now sees it as recent.
func (s *Store) Stage(ctx context.Context, r io.Reader) (*Staged, error) {
	f, err := os.CreateTemp(s.tmp, "w-")
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	tmpName := f.Name()
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(tmpName)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return nil, fmt.Errorf("blob: write: %w", err)
	}
	key := hex.EncodeToString(h.Sum(nil))
	final, _ := s.path(key)
	st := &Staged{ref: Ref{Key: key, Size: n}, path: final}
	if _, err := os.Stat(final); err == nil {
		now := time.Now()
		os.Chtimes(final, now, now)
		return st, nil // deduplicated: the deferred cleanup drops the temp file
	}
	// The file content must be durable before the rename makes it visible; the fsync happens
	// in Sync, but the rename cannot be undone by a crash into a partial file because the data
	// is synced before the directory entry is (Sync syncs files first, then directories).
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("blob: close: %w", err)
	}
	f = nil
	dir := filepath.Dir(final)
	created, err := mkdirAll(dir)
	if err != nil {
		os.Remove(tmpName)
		return nil, fmt.Errorf("blob: %w", err)
	}
	// Sync the content before rename so that no crash can leave a partially written file under
	// a valid key (on filesystems that may reorder data and metadata).
	if err := syncFile(tmpName); err != nil {
		os.Remove(tmpName)
		return nil, fmt.Errorf("blob: sync: %w", err)
	}
	if err := os.Rename(tmpName, final); err != nil {
		os.Remove(tmpName)
		return nil, fmt.Errorf("blob: rename: %w", err)
	}
	st.written = true
	st.dirs = append(created, dir)
	return st, nil
}

// mkdirAll creates dir and its missing parents and returns the parents of what it created (whose
// entries must be fsync'd for the new directories to be durable).
func mkdirAll(dir string) ([]string, error) {
	if _, err := os.Stat(dir); err == nil {
		return nil, nil
	}
	parent := filepath.Dir(dir)
	created, err := mkdirAll(parent)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return append(created, parent), nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Sync makes staged blobs durable: each distinct directory that received a new entry is
// fsync'd once (file contents were synced by Stage before their rename).
func (s *Store) Sync(ctx context.Context, staged ...*Staged) error {
	dirs := map[string]bool{}
	for _, st := range staged {
		if st == nil || !st.written {
			continue
		}
		for _, d := range st.dirs {
			dirs[d] = true
		}
	}
	// Parents first, so a new fan-out directory is durable before its entries matter.
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	sort.Slice(list, func(i, j int) bool { return len(list[i]) < len(list[j]) })
	for _, d := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := syncFile(d); err != nil {
			return fmt.Errorf("blob: sync dir: %w", err)
		}
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
