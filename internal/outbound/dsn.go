package outbound

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/postamail/posta/internal/message"
	"github.com/postamail/posta/internal/queue"
)

// sendDSN tells the sender that a recipient failed, or with delayed, that delivery is still
// being tried (RFC 3464). The null sender gets nothing: a notification about a notification
// would loop.
func (r *Runner) sendDSN(ctx context.Context, it queue.Item, rep *Reply, host string, delayed bool) {
	if it.From == "" {
		return
	}
	var headers []byte
	if body, err := r.q.Open(ctx, it); err == nil {
		buf := make([]byte, 64<<10)
		n, _ := io.ReadFull(body, buf)
		body.Close()
		_, end := message.ParseHeader(buf[:n])
		headers = buf[:end]
	}
	raw := buildDSN(r.cfg.Hostname, it, rep, host, delayed, r.cfg.Now(), it.CreatedAt.Add(r.cfg.GiveUp), headers)
	if err := r.notify.Notify(ctx, it.From, raw); err != nil {
		r.log.Error("outbound: DSN", "to", it.From, "err", err)
	}
}

// statusOf is the RFC 3463 status of a reply: its enhanced code, else one derived from the
// basic code's class.
func statusOf(rep *Reply) string {
	if rep.Enhanced != "" {
		return rep.Enhanced
	}
	if rep.Code >= 500 {
		return "5.0.0"
	}
	return "4.0.0"
}

func buildDSN(hostname string, it queue.Item, rep *Reply, remote string, delayed bool, now, until time.Time, headers []byte) []byte {
	var b bytes.Buffer
	rnd := make([]byte, 8)
	rand.Read(rnd)
	boundary := "dsn-" + hex.EncodeToString(rnd)
	subject, action := "Undelivered Mail Returned to Sender", "failed"
	if delayed {
		subject, action = "Delayed Mail (still being retried)", "delayed"
	}
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", hostname)
	fmt.Fprintf(&b, "To: <%s>\r\nSubject: %s\r\nDate: %s\r\n", it.From, subject, now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.dsn@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n", hex.EncodeToString(rnd), hostname)
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", boundary)
	if delayed {
		fmt.Fprintf(&b, "Your message to <%s> has not been delivered yet. The receiving server answered:\r\n\r\n    %s\r\n\r\n", it.To, oneLine(rep.Error()))
		fmt.Fprintf(&b, "We will keep trying until %s. You do not need to send it again.\r\n\r\n", until.UTC().Format(time.RFC1123))
	} else {
		fmt.Fprintf(&b, "Your message could not be delivered to <%s>. The receiving server answered:\r\n\r\n    %s\r\n\r\n", it.To, oneLine(rep.Error()))
	}
	fmt.Fprintf(&b, "--%s\r\nContent-Type: message/delivery-status\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\nArrival-Date: %s\r\n\r\n", hostname, it.CreatedAt.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", it.To, action, statusOf(rep))
	if remote != "" {
		fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", oneLine(remote))
	}
	fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\nLast-Attempt-Date: %s\r\n", oneLine(rep.Error()), now.Format(time.RFC1123Z))
	if delayed {
		fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", until.Format(time.RFC1123Z))
	}
	fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
	b.Write(headers)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
