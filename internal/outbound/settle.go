package outbound

import (
	"context"

	"github.com/postamail/posta/internal/queue"
)

// maxSettleBatch bounds the outcomes written in one transaction.
const maxSettleBatch = 256

// settler records the outcomes of a round's attempts in groups: every outcome that came in
// while the previous group was being committed goes into the next transaction, so that the
// connections of a round keep sending while their results are made durable, and many
// recipients share one commit. The notifications an outcome calls for (failure DSNs, delay
// warnings) are sent only once it is committed; if the commit fails, the entries stay leased
// and are tried again when the lease runs out, without a notification.
type settler struct {
	r    *Runner
	ctx  context.Context
	ch   chan settlement
	done chan struct{}
}

// settlement is one decided outcome and what to do once it is committed.
type settlement struct {
	it    queue.Item
	rep   *Reply
	host  string
	out   queue.Outcome
	dsn   bool // tell the sender it failed
	delay bool // tell the sender it is delayed
}

func (r *Runner) newSettler(ctx context.Context) *settler {
	s := &settler{r: r, ctx: ctx, ch: make(chan settlement, maxSettleBatch), done: make(chan struct{})}
	go s.run()
	return s
}

// close waits until every outcome handed over is committed and notified.
func (s *settler) close() {
	close(s.ch)
	<-s.done
}

func (s *settler) run() {
	defer close(s.done)
	for first := range s.ch {
		batch := []settlement{first}
	more:
		for len(batch) < maxSettleBatch {
			select {
			case x, ok := <-s.ch:
				if !ok {
					break more
				}
				batch = append(batch, x)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

func (s *settler) commit(batch []settlement) {
	r := s.r
	outs := make([]queue.Outcome, len(batch))
	for i, x := range batch {
		outs[i] = x.out
	}
	// What the receiving servers answered is recorded even when the runner is being
	// stopped: an unrecorded 250 would send the message again after the restart.
	if err := r.q.Settle(context.WithoutCancel(s.ctx), outs); err != nil {
		r.log.Error("outbound: recording outcomes", "entries", len(batch), "err", err)
		return
	}
	for _, x := range batch {
		o := x.out
		switch o.Status {
		case "delivered":
			a := o.Attempt
			r.log.Info("outbound: delivered", "id", o.ID, "to", x.it.To, "host", a.Host, "tls", a.TLS, "policy", a.Policy, "tls_result", a.TLSResult)
		case "failed":
			r.log.Info("outbound: failed", "id", o.ID, "to", x.it.To, "reply", o.Response)
		default:
			r.log.Info("outbound: deferred", "id", o.ID, "to", x.it.To, "reply", o.Response, "retry_at", o.Next)
		}
		if x.dsn || x.delay {
			r.sendDSN(s.ctx, x.it, x.rep, x.host, x.delay)
		}
	}
}

// settle decides the outcome of an attempt for one entry — delivered (rep nil), failed for
// good (5xx, or retried too long) with a DSN, or deferred (with a delay warning once) — and
// hands it over to be recorded.
func (s *settler) settle(it queue.Item, rep *Reply, o outcome) {
	r := s.r
	now := r.cfg.Now()
	x := settlement{it: it, rep: rep, host: o.host}
	a := queue.Attempt{At: now.UnixMilli(), Host: o.host, TLS: o.tls, Policy: o.policy, TLSResult: o.result, Code: 250, Response: "delivered"}
	if rep != nil {
		a.Code, a.Response = rep.Code, rep.Error()
	}
	x.out = queue.Outcome{ID: it.ID, Attempt: a}
	switch {
	case rep == nil:
		x.out.Status, x.out.Response = "delivered", "250 delivered to "+o.host
	case !rep.Temporary() || now.Sub(it.CreatedAt) >= r.cfg.GiveUp:
		x.out.Status, x.out.Response = "failed", rep.Error()
		x.dsn = true
	default:
		x.out.Status, x.out.Response = "deferred", rep.Error()
		x.out.DelayWarned = it.DelayWarned
		if !it.DelayWarned && r.cfg.DelayWarning > 0 && now.Sub(it.CreatedAt) >= r.cfg.DelayWarning {
			x.delay, x.out.DelayWarned = true, true
		}
		x.out.Next = now.Add(r.cfg.Retry[min(it.Attempts, len(r.cfg.Retry)-1)])
	}
	s.ch <- x
}
