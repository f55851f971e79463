package connset

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"
)

// An idle connection is woken by Shutdown and ends; a stuck one is closed when time is up.
func TestShutdown(t *testing.T) {
	s := Set{CloseWait: 100 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	woken := make(chan error, 2)
	busy := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	served := make(chan error, 1)
	go func() {
		served <- s.Serve(ln, func(c net.Conn) {
			defer c.Close()
			_, err := bufio.NewReader(c).ReadString('\n') // waits for the client
			if err != nil && s.Closing() {
				woken <- err
				return
			}
			busy <- struct{}{}
			<-stop // a handler that does not end by itself
		})
	}()
	idle, _ := net.Dial("tcp", ln.Addr().String())
	defer idle.Close()
	stuck, _ := net.Dial("tcp", ln.Addr().String())
	defer stuck.Close()
	stuck.Write([]byte("busy\n"))
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Len() != 2 {
		t.Fatalf("%d connections", s.Len())
	}
	<-busy // the stuck handler has its line: only the idle one waits for the client
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Shutdown(ctx)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("shutdown with a stuck handler: %v after %v", err, time.Since(start))
	}
	select {
	case <-woken:
	case <-time.After(time.Second):
		t.Fatal("the idle connection was not woken")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if err := s.Serve(ln, func(net.Conn) {}); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}
