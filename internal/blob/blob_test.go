package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func keyOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func countBlobs(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.Walk(context.Background(), func(string, int64, time.Time) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPutOpenDedup(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"small", []byte("hello\r\n")},
		{"binary", bytes.Repeat([]byte{0, 255, 13, 10}, 5000)},
	}
	for _, tt := range tests {
		ref, err := s.Put(ctx, bytes.NewReader(tt.content))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ref.Key != keyOf(tt.content) || ref.Size != int64(len(tt.content)) {
			t.Fatalf("%s: ref %+v", tt.name, ref)
		}
		f, err := s.Open(ctx, ref.Key)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, tt.content) {
			t.Fatalf("%s: read back differs", tt.name)
		}
		if err := s.Verify(ctx, ref.Key); err != nil {
			t.Fatalf("%s: verify: %v", tt.name, err)
		}
	}
	if _, err := s.Put(ctx, strings.NewReader("hello\r\n")); err != nil {
		t.Fatal(err)
	}
	if n := countBlobs(t, s); n != len(tests) {
		t.Fatalf("%d blobs after a duplicate put, want %d", n, len(tests))
	}
	if tmp, _ := os.ReadDir(s.tmp); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
}

func TestLargeBlobStreams(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	const size = 30 << 20
	ref, err := s.Put(ctx, io.LimitReader(zeroReader{}, size))
	if err != nil || ref.Size != size {
		t.Fatalf("put: %+v %v", ref, err)
	}
	if n, err := s.Stat(ctx, ref.Key); err != nil || n != size {
		t.Fatalf("stat: %d %v", n, err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestBadKeys(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	for _, k := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("a", 62) + "/x", strings.Repeat("g", 64)} {
		if _, err := s.Open(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Remove(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Remove(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	if _, err := s.Open(ctx, strings.Repeat("a", 64)); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v", err)
	}
}

func TestStageSyncAndCorruption(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	var staged []*Staged
	for i := 0; i < 10; i++ {
		st, err := s.Stage(ctx, strings.NewReader(strings.Repeat("x", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		staged = append(staged, st)
	}
	if err := s.Sync(ctx, staged...); err != nil {
		t.Fatal(err)
	}
	key := staged[3].Ref().Key
	p, _ := s.path(key)
	os.WriteFile(p, []byte("tampered"), 0o600)
	if err := s.Verify(ctx, key); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify tampered: %v", err)
	}
}

func TestSweepHonoursReferencesAndGrace(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	keep, _ := s.Put(ctx, strings.NewReader("keep"))
	drop, _ := s.Put(ctx, strings.NewReader("drop"))
	young, _ := s.Put(ctx, strings.NewReader("young"))
	old := time.Now().Add(-2 * time.Hour)
	for _, k := range []string{keep.Key, drop.Key} {
		p, _ := s.path(k)
		os.Chtimes(p, old, old)
	}
	refs := func(ctx context.Context, keys []string) (map[string]bool, error) {
		return map[string]bool{keep.Key: true}, nil
	}
	n, err := s.Sweep(ctx, refs, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v), want 1", n, err)
	}
	for k, want := range map[string]bool{keep.Key: true, drop.Key: false, young.Key: true} {
		_, err := s.Stat(ctx, k)
		if (err == nil) != want {
			t.Errorf("blob %s present=%v, want %v", k[:8], err == nil, want)
		}
	}
}

// TestCrashMidWrite kills a writer with SIGKILL half-way through a blob, with unnamed and with
// named temporary files, and checks that no partial blob is visible and nothing is left in the
// temporary directory at the next Open.
func TestCrashMidWrite(t *testing.T) {
	if dir := os.Getenv("POSTA_BLOB_CRASH_DIR"); dir != "" {
		s, err := Open(dir)
		if err != nil {
			os.Exit(3)
		}
		s.noUnnamed.Store(os.Getenv("POSTA_BLOB_CRASH_NAMED") != "")
		s.Put(context.Background(), &slowReader{midway: filepath.Join(dir, "midway")})
		os.Exit(4) // unreachable: the parent kills us first
	}
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "unnamed", true: "named"}[named], func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidWrite$")
			cmd.Env = append(os.Environ(), "POSTA_BLOB_CRASH_DIR="+dir)
			if named {
				cmd.Env = append(cmd.Env, "POSTA_BLOB_CRASH_NAMED=1")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := os.Stat(filepath.Join(dir, "midway")); err == nil {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatal("child never started writing")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); named != (len(tmp) > 0) {
				t.Errorf("named %v: %d entries in tmp while writing", named, len(tmp))
			}
			cmd.Process.Kill()
			cmd.Wait()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if n := countBlobs(t, s); n != 0 {
				t.Fatalf("%d blobs visible after a crash mid-write", n)
			}
			if tmp, _ := os.ReadDir(s.tmp); len(tmp) != 0 {
				t.Fatalf("temp files not cleaned: %d", len(tmp))
			}
		})
	}
}

// slowReader produces data forever, slowly enough to be killed mid-way; after 1 MiB it
// creates the file midway.
type slowReader struct {
	midway string
	n      int
}

func (r *slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	n := min(len(p), 64<<10)
	for i := range p[:n] {
		p[i] = 'a'
	}
	if r.n += n; r.n > 1<<20 && r.midway != "" {
		os.WriteFile(r.midway, nil, 0o600)
		r.midway = ""
	}
	return n, nil
}

func BenchmarkPut8KB(b *testing.B) {
	ctx := context.Background()
	s, _ := Open(b.TempDir())
	buf := bytes.Repeat([]byte("x"), 8<<10)
	b.SetBytes(int64(len(buf)))
	for i := 0; i < b.N; i++ {
		copy(buf, []byte(time.Now().String()))
		buf[100] = byte(i)
		buf[101] = byte(i >> 8)
		buf[102] = byte(i >> 16)
		if _, err := s.Put(ctx, bytes.NewReader(buf)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStageSync8KBx64 stages 64 blobs of 8 KB from 8 goroutines, as a MULTIAPPEND does,
// and syncs them together; with unnamed and with named temporary files.
func BenchmarkStageSync8KBx64(b *testing.B) {
	for _, named := range []bool{false, true} {
		b.Run(map[bool]string{false: "unnamed", true: "named"}[named], func(b *testing.B) {
			ctx := context.Background()
			s, _ := Open(b.TempDir())
			s.noUnnamed.Store(named)
			b.SetBytes(8 << 10 * 64)
			var n atomic.Int64
			for i := 0; i < b.N; i++ {
				staged := make([]*Staged, 64)
				var wg sync.WaitGroup
				for w := 0; w < 8; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := bytes.Repeat([]byte("y"), 8<<10)
						for j := w; j < len(staged); j += 8 {
							k := n.Add(1)
							copy(buf, []byte(time.Now().String()))
							buf[100], buf[101], buf[102] = byte(k), byte(k>>8), byte(k>>16)
							st, err := s.Stage(ctx, bytes.NewReader(buf))
							if err != nil {
								b.Error(err)
								return
							}
							staged[j] = st
						}
					}()
				}
				wg.Wait()
				if err := s.Sync(ctx, staged...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOpenMovesTwoLevelLayout: blobs stored under the earlier ab/cd/key layout are found after
// the store is opened again, and the fan-out directories all exist.
func TestOpenMovesTwoLevelLayout(t *testing.T) {
	dir := t.TempDir()
	contents := [][]byte{[]byte("first message"), []byte("second message"), []byte("third")}
	for _, c := range contents {
		k := keyOf(c)
		old := filepath.Join(dir, k[:2], k[2:4])
		if err := os.MkdirAll(old, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(old, k), c, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range contents {
		f, err := s.Open(context.Background(), keyOf(c))
		if err != nil {
			t.Fatalf("%q after the move: %v", c, err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, c) {
			t.Errorf("content %q, want %q", got, c)
		}
	}
	if n := countBlobs(t, s); n != len(contents) {
		t.Errorf("%d blobs, want %d", n, len(contents))
	}
	fans, _ := filepath.Glob(filepath.Join(dir, "[0-9a-f][0-9a-f]"))
	if len(fans) != 256 {
		t.Errorf("%d fan-out directories, want 256", len(fans))
	}
	subs, _ := filepath.Glob(filepath.Join(dir, "*", "*", ""))
	for _, sub := range subs {
		if fi, err := os.Stat(sub); err == nil && fi.IsDir() {
			t.Errorf("directory %s left behind", sub)
		}
	}
}
