package changes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// channel is the PostgreSQL NOTIFY channel posta nodes share.
const channel = "posta_changes"

// Postgres carries changes between nodes through LISTEN/NOTIFY. Each node tags its
// notifications with its own id and ignores its own echoes.
type Postgres struct {
	dsn    string
	bus    *Bus
	log    *slog.Logger
	node   string
	notify chan Change
}

// NewPostgres connects the bus to the other nodes sharing the database at dsn. Run must be
// called for changes to flow.
func NewPostgres(dsn string, bus *Bus, log *slog.Logger) *Postgres {
	b := make([]byte, 8)
	rand.Read(b)
	p := &Postgres{dsn: dsn, bus: bus, log: log, node: hex.EncodeToString(b), notify: make(chan Change, 4096)}
	bus.SetForwarder(p)
	return p
}

// Forward queues a local change for NOTIFY. If the queue is full the change is dropped for
// other nodes, which still see it at their next poll of the mailbox (IDLE sessions also poll).
func (p *Postgres) Forward(c Change) {
	select {
	case p.notify <- c:
	default:
		p.log.Warn("changes: notify queue full, dropping cross-node notification", "account", c.AccountID)
	}
}

func (p *Postgres) payload(c Change) string {
	return fmt.Sprintf("%s:%d:%d:%d", p.node, c.AccountID, c.MailboxID, c.ModSeq)
}

func parsePayload(s string) (node string, c Change, ok bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return "", c, false
	}
	var err [3]error
	c.AccountID, err[0] = strconv.ParseInt(parts[1], 10, 64)
	c.MailboxID, err[1] = strconv.ParseInt(parts[2], 10, 64)
	c.ModSeq, err[2] = strconv.ParseInt(parts[3], 10, 64)
	if err[0] != nil || err[1] != nil || err[2] != nil {
		return "", c, false
	}
	return parts[0], c, true
}

// Run listens and notifies until ctx ends, reconnecting with back-off after errors.
func (p *Postgres) Run(ctx context.Context) {
	go p.sendLoop(ctx)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("changes: listen connection lost", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (p *Postgres) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		node, c, ok := parsePayload(n.Payload)
		if !ok || node == p.node {
			continue
		}
		p.bus.deliver([]Change{c})
	}
}

func (p *Postgres) sendLoop(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		var c Change
		select {
		case <-ctx.Done():
			return
		case c = <-p.notify:
		}
		if conn == nil {
			var err error
			if conn, err = pgx.Connect(ctx, p.dsn); err != nil {
				p.log.Warn("changes: notify connection", "err", err)
				conn = nil
				continue
			}
		}
		if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", channel, p.payload(c)); err != nil {
			p.log.Warn("changes: notify", "err", err)
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
		}
	}
}
