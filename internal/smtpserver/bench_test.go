package smtpserver

import (
	"context"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
)

// BenchmarkDelivery8KB is one inbound message of 8 KB over SMTP, from MAIL FROM to the 250
// that says it is stored (SPF and DMARC checked, parsed, delivered, fsync'd), on one
// connection.
func BenchmarkDelivery8KB(b *testing.B) {
	e := setup(b)
	if _, err := e.store.DB().ExecContext(context.Background(), `UPDATE cos SET quota_bytes = ?`, int64(1)<<40); err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("tcp", e.mx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		b.Fatal(err)
	}
	cmd := func(code int, line string) {
		b.Helper()
		if err := tp.PrintfLine("%s", line); err != nil {
			b.Fatal(err)
		}
		if _, msg, err := tp.ReadResponse(code); err != nil {
			b.Fatalf("%s: %v %s", line, err, msg)
		}
	}
	cmd(250, "EHLO bench.good.test")
	body := "From: <a@good.test>\r\nTo: <mario@x.test>\r\nSubject: bench\r\nMessage-ID: <b@good.test>\r\n\r\n" +
		strings.Repeat("lorem ipsum dolor sit amet consectetur adipiscing elit sed do\r\n", 8192/63)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd(250, "MAIL FROM:<a@good.test>")
		cmd(250, "RCPT TO:<mario@x.test>")
		cmd(354, "DATA")
		dw := tp.DotWriter()
		io.WriteString(dw, body)
		if err := dw.Close(); err != nil {
			b.Fatal(err)
		}
		if _, msg, err := tp.ReadResponse(250); err != nil {
			b.Fatalf("end of DATA: %v %s", err, msg)
		}
	}
}
