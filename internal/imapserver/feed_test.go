package imapserver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestSharedChangesMissNothing: 40 sessions idle on one mailbox while 30 messages arrive from
// several writers at once; sessions share the reading of changes, and each must still end up
// announcing all 30.
func TestSharedChangesMissNothing(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	acc := e.accounts["mario@x.test"]
	inbox, err := e.store.Mailbox(ctx, acc, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const sessions, messages = 40, 30
	final := make(chan int, sessions)
	for j := 0; j < sessions; j++ {
		c, r := idleSession(t, e.addr)
		t.Cleanup(func() { c.Close() })
		go func() {
			for {
				c.SetReadDeadline(time.Now().Add(20 * time.Second))
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				var n int
				if _, err := fmt.Sscanf(l, "* %d EXISTS", &n); err == nil && n == messages {
					final <- n
					return
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for w := 0; w < 5; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < messages; i += 5 {
				raw := []byte(fmt.Sprintf("From: <s@example.org>\r\nTo: mario@x.test\r\nSubject: burst %d\r\n\r\nbody\r\n", i))
				if _, err := e.store.Append(ctx, acc, inbox.ID, raw, 0, nil, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	timeout := time.After(15 * time.Second)
	for j := 0; j < sessions; j++ {
		select {
		case <-final:
		case <-timeout:
			t.Fatalf("%d of %d sessions announced all %d messages", j, sessions, messages)
		}
	}
}
