package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParsePids(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pid")
	os.WriteFile(good, []byte("  1234\n"), 0o644)
	bad := filepath.Join(dir, "bad.pid")
	os.WriteFile(bad, []byte("x"), 0o644)
	for _, tc := range []struct {
		list, files string
		want        []int
		err         bool
	}{
		{"", "", nil, false},
		{"1,2", "", []int{1, 2}, false},
		{" 7 ,", good, []int{7, 1234}, false},
		{"0", "", nil, true},
		{"a", "", nil, true},
		{"", bad, nil, true},
		{"", filepath.Join(dir, "missing"), nil, true},
	} {
		got, err := parsePids(tc.list, tc.files)
		if (err != nil) != tc.err {
			t.Errorf("%q %q: error %v", tc.list, tc.files, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%q %q: %v, want %v", tc.list, tc.files, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q %q: %v, want %v", tc.list, tc.files, got, tc.want)
			}
		}
	}
}

// TestCPUReadings burns CPU and checks that this process's tree and the machine account for it.
func TestCPUReadings(t *testing.T) {
	self := []int{os.Getpid()}
	before, busy0 := treeCPU(self), must(machineBusy())
	x := 0
	for i := 0; i < 300_000_000; i++ {
		x += i % 7
	}
	after, busy1 := treeCPU(self), must(machineBusy())
	if after <= before {
		t.Errorf("this process's CPU ticks did not grow: %v then %v (%d)", before, after, x)
	}
	if busy1 < busy0+(after-before)/2 {
		t.Errorf("machine busy ticks grew by %v, this process alone by %v", busy1-busy0, after-before)
	}
	if treeCPU(nil) != 0 {
		t.Error("no process, some CPU")
	}
	if cpusOf() < 1 {
		t.Error("no CPU in /proc/stat")
	}
}

func must(v float64, err error) float64 {
	if err != nil {
		panic(err)
	}
	return v
}
