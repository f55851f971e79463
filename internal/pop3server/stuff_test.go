package pop3server

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

// stuffBoth runs the byte-at-a-time writer and the line-at-a-time one on data, the latter
// reading through r (which may return short reads) into a buffer of size n.
func stuffBoth(t *testing.T, data []byte, n int, short bool) (string, string) {
	t.Helper()
	var want, got bytes.Buffer
	w1 := bufio.NewWriter(&want)
	if err := writeDotStuffed(w1, bytes.NewReader(data), -1); err != nil {
		t.Fatal(err)
	}
	w1.Flush()
	w2 := bufio.NewWriter(&got)
	var r = bytes.NewReader(data)
	rd := iotestReader(r, short)
	if err := writeStuffedLines(w2, rd, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	w2.Flush()
	return want.String(), got.String()
}

func iotestReader(r *bytes.Reader, short bool) interface{ Read([]byte) (int, error) } {
	if short {
		return iotest.OneByteReader(r)
	}
	return r
}

func TestWriteStuffedLines(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"crlf", "Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n"},
		{"bare lf", "a\nb\n", "a\r\nb\r\n"},
		{"dot at line start", ".hidden\r\n..two\r\nnot.start\r\n", "..hidden\r\n...two\r\nnot.start\r\n"},
		{"no final line break", "last line", "last line\r\n"},
		{"final cr", "line\r", "line\r\n"},
		{"lone cr is data", "a\rb\r\n", "a\rb\r\n"},
		{"cr before dot", "\r.x\n", "\r.x\r\n"},
		{"empty", "", ""},
		{"dot alone", ".\r\n", "..\r\n"},
	}
	for _, tt := range tests {
		for _, n := range []int{1, 2, 3, 7, 32 << 10} {
			for _, short := range []bool{false, true} {
				want, got := stuffBoth(t, []byte(tt.in), n, short)
				if got != tt.want || want != tt.want {
					t.Errorf("%s (buffer %d, short %v): lines %q, bytes %q, want %q", tt.name, n, short, got, want, tt.want)
				}
			}
		}
	}
}

// FuzzWriteStuffedLines holds the line-at-a-time writer to the byte-at-a-time one.
func FuzzWriteStuffedLines(f *testing.F) {
	for _, s := range []string{"a\r\n.b\r\n", "\r\r\n.\n", "x\r", strings.Repeat(".\r\n", 10), "\n\n.\r.\r\n"} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		size := int(n%64) + 1
		want, got := stuffBoth(t, data, size, n%2 == 0)
		if got != want {
			t.Fatalf("buffer %d: lines %q, bytes %q", size, got, want)
		}
	})
}
