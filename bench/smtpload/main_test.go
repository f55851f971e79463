package main

import (
	"strings"
	"testing"
)

func TestCorpus(t *testing.T) {
	msgs := corpus(64, 8192)
	total, kinds := 0, map[string]int{}
	for _, m := range msgs {
		total += len(m)
		switch {
		case strings.Contains(m, "multipart/mixed"):
			kinds["attachment"]++
		case strings.Contains(m, "multipart/alternative"):
			kinds["alternative"]++
		case strings.Contains(m, "text/plain; charset=utf-8\r\n\r\n"):
			kinds["plain"]++
		}
		if !strings.Contains(m, "From: Load <load@example.org>\r\n") {
			t.Fatal("a message without the From field that submission replaces")
		}
		for _, line := range strings.Split(m, "\r\n") {
			if len(line) > 998 {
				t.Fatalf("a line of %d bytes", len(line))
			}
		}
	}
	if avg := total / len(msgs); avg < 8192*8/10 || avg > 8192*12/10 {
		t.Errorf("average size %d, want about 8192", avg)
	}
	if len(kinds) != 3 {
		t.Errorf("kinds of message: %v", kinds)
	}
}

func TestRunRefusesRemoteAddresses(t *testing.T) {
	if err := run("192.0.2.1:25", "a@b", []string{"c@d"}, nil, 1, 1, 100, 0, ""); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("error %v", err)
	}
}
