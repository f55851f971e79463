package changes

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"
)

func TestBusFanOutAndCoalescing(t *testing.T) {
	b := New()
	s1 := b.Subscribe(1)
	s2 := b.Subscribe(1)
	other := b.Subscribe(2)
	b.Publish(Change{AccountID: 1, MailboxID: 10, ModSeq: 5}, Change{AccountID: 1, MailboxID: 10, ModSeq: 6})
	for i, s := range []*Sub{s1, s2} {
		select {
		case <-s.C:
		default:
			t.Fatalf("sub %d not woken", i)
		}
		if got := s.Last().ModSeq; got != 6 {
			t.Errorf("sub %d last modseq %d, want 6", i, got)
		}
		select {
		case <-s.C:
			t.Fatalf("sub %d woken twice for one burst", i)
		default:
		}
	}
	select {
	case <-other.C:
		t.Fatal("subscriber of another account woken")
	default:
	}
	s1.Close()
	s2.Close()
	other.Close()
	if n := b.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after close", n)
	}
	b.Publish(Change{AccountID: 1}) // no subscribers: must not panic or block
}

func TestParsePayload(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want Change
	}{
		{"n1:1:2:3", true, Change{1, 2, 3}},
		{"n1:1:2", false, Change{}},
		{"n1:x:2:3", false, Change{}},
		{"", false, Change{}},
	}
	for _, tt := range tests {
		node, c, ok := parsePayload(tt.in)
		if ok != tt.ok || (ok && (c != tt.want || node != "n1")) {
			t.Errorf("parsePayload(%q) = %q %+v %v", tt.in, node, c, ok)
		}
	}
}

// TestPostgresAcrossNodes runs two buses, each as a separate node on the same PostgreSQL.
func TestPostgresAcrossNodes(t *testing.T) {
	dsn := os.Getenv("POSTA_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("POSTA_TEST_POSTGRES_DSN not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, b := New(), New()
	pa, pb := NewPostgres(dsn, a, log), NewPostgres(dsn, b, log)
	go pa.Run(ctx)
	go pb.Run(ctx)
	sub := b.Subscribe(42)
	defer sub.Close()
	own := a.Subscribe(42)
	defer own.Close()
	// LISTEN is asynchronous: publish until the other node hears it.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		a.Publish(Change{AccountID: 42, MailboxID: 7, ModSeq: 9})
		select {
		case <-sub.C:
			if got := sub.Last(); got != (Change{42, 7, 9}) {
				t.Fatalf("remote change %+v", got)
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("change never crossed nodes")
		}
	}
}
