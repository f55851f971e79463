// Package deliver is local delivery: it turns the recipients of an accepted message into
// mailboxes (through aliases, alias domains, nested distribution lists and forwarding, each final
// mailbox once), applies the class-of-service and quota rules per recipient, adds the trace
// headers, parses the message once, and stores it once through the mailstore for every local
// mailbox; remote recipients go to the outbound queue. It warns users crossing 80, 90 and 95 %
// of their quota. Each message it takes is recorded in the message log (internal/msglog) with
// what became of every recipient.
//
// It is used by the SMTP server now, and by migration, webmail and filters later. It must not
// speak a protocol: the callers map its errors to their codes.
package deliver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/message"
	"github.com/postamail/posta/internal/msglog"
)

// Errors for one recipient.
var (
	ErrUnknownRecipient = errors.New("no such recipient")
	ErrMailboxDisabled  = errors.New("mailbox disabled")
	ErrNoMailService    = errors.New("the recipient's service does not include mail")
	ErrOverQuota        = errors.New("mailbox full")
	ErrNotAllowedToPost = errors.New("sender may not post to this list")
	ErrTooLarge         = errors.New("message too large for the recipient")
	// ErrNotQueued is a recipient's when the outbound queue refused the message after it was
	// stored for the local recipients: only those that depended on the queue fail.
	ErrNotQueued = errors.New("the message could not be queued for remote delivery")
)

// Signer signs outgoing mail of a hosted domain with DKIM (internal/dkim).
type Signer interface {
	Sign(ctx context.Context, domain string, msg []byte) ([]byte, error)
}

// Queue takes remote recipients (internal/queue); requireTLS is the REQUIRETLS flag of
// RFC 8689, kept with the queued message.
type Queue interface {
	EnqueueRequireTLS(ctx context.Context, from string, rcpts []string, raw []byte, accountID int64, requireTLS bool) error
}

// Observer counts what became of messages for local mailboxes (internal/observe's Metrics).
// result is one of a small fixed set: "stored"; or a refusal: "overquota", "unknown" (no such
// recipient or account), "nomailbox" (the target mailbox, such as Junk, does not exist),
// "disabled" (mailbox disabled or closed, or a service without mail), "toolarge" (over the
// recipient's size limit), "notallowed" (the sender may not post to the list); or "error" (a
// database or disk failure: nothing stored).
type Observer interface {
	Delivered(result string)
}

// Results reported to an Observer.
const (
	resultStored     = "stored"
	resultOverQuota  = "overquota"
	resultUnknown    = "unknown"
	resultNoMailbox  = "nomailbox"
	resultDisabled   = "disabled"
	resultTooLarge   = "toolarge"
	resultNotAllowed = "notallowed"
	resultError      = "error"
)

// resultOf is the Observer's result for the outcome of one recipient or mailbox.
func resultOf(err error) string {
	switch {
	case err == nil:
		return resultStored
	case errors.Is(err, ErrOverQuota), errors.Is(err, mailstore.ErrOverQuota):
		return resultOverQuota
	case errors.Is(err, ErrUnknownRecipient), errors.Is(err, mailstore.ErrNoAccount):
		return resultUnknown
	case errors.Is(err, mailstore.ErrNoMailbox), errors.Is(err, mailstore.ErrInvalidName):
		return resultNoMailbox
	case errors.Is(err, ErrMailboxDisabled), errors.Is(err, ErrNoMailService), errors.Is(err, mailstore.ErrAccountClosed):
		return resultDisabled
	case errors.Is(err, ErrTooLarge):
		return resultTooLarge
	case errors.Is(err, ErrNotAllowedToPost):
		return resultNotAllowed
	}
	return resultError
}

// Deliverer delivers messages.
type Deliverer struct {
	dir      *directory.Service
	store    *mailstore.Store
	queue    Queue
	db       *db.DB
	hostname string
	log      *slog.Logger
	signer   Signer
	msglog   *msglog.Log
	obs      Observer
}

// New returns a deliverer.
func New(dir *directory.Service, store *mailstore.Store, q Queue, hostname string, log *slog.Logger) *Deliverer {
	return &Deliverer{dir: dir, store: store, queue: q, db: store.DB(), hostname: hostname, log: log}
}

// SetLog records every message delivered in l.
func (d *Deliverer) SetLog(l *msglog.Log) { d.msglog = l }

// SetObserver makes every outcome for a local mailbox counted by o.
func (d *Deliverer) SetObserver(o Observer) { d.obs = o }

// Refused counts a local recipient refused before its message arrived (at SMTP's RCPT TO) with
// the outcome of err, as Deliver counts those it refuses.
func (d *Deliverer) Refused(err error) { d.observe(resultOf(err), 1) }

// observe counts n outcomes for local mailboxes or recipients.
func (d *Deliverer) observe(result string, n int) {
	if d.obs == nil {
		return
	}
	for range n {
		d.obs.Delivered(result)
	}
}

// SetSigner makes outgoing mail of hosted domains DKIM-signed before it is queued.
func (d *Deliverer) SetSigner(s Signer) { d.signer = s }

// sign prepends DKIM signatures when the message's From domain is hosted here. A failure to
// sign is logged and the message goes unsigned: delivering it matters more.
func (d *Deliverer) sign(ctx context.Context, raw []byte) []byte {
	if d.signer == nil {
		return raw
	}
	h, _ := message.ParseHeader(raw)
	as := message.ParseAddressList(h.Get("From"))
	if len(as) == 0 || as[0].Host == "" {
		return raw
	}
	domain := strings.ToLower(as[0].Host)
	if local, err := d.dir.IsLocalDomain(ctx, domain); err != nil || !local {
		return raw
	}
	sig, err := d.signer.Sign(ctx, domain, raw)
	if err != nil {
		d.log.Warn("deliver: DKIM signing", "domain", domain, "err", err)
		return raw
	}
	return append(sig, raw...)
}

// Envelope is one accepted message.
type Envelope struct {
	From  string   // reverse path; "" is the null sender
	Rcpts []string // recipients as accepted
	// Header is prepended to Raw (Received and the like), without Return-Path, which
	// delivery adds.
	Header []byte
	Raw    []byte
	// AccountID is the authenticated sender (0 when unauthenticated).
	AccountID int64
	// System marks messages posta writes itself (quota warnings): quota is not enforced.
	System bool
	// Junk files local copies in each recipient's Junk mailbox (a DMARC quarantine).
	Junk bool
	// RequireTLS is the REQUIRETLS flag (RFC 8689) the message arrived with: its remote
	// recipients get it only over verified TLS.
	RequireTLS bool
	// Origin is where the message came from, for the message log (Source defaults to "system"
	// for System messages, else "smtp").
	Origin msglog.Origin
}

// Check tells whether a recipient would be accepted now, for RCPT TO: ErrUnknownRecipient
// when the address is not local (the caller decides about relaying), or another per-recipient
// error. size is the declared size (0 if unknown) for an early quota check.
func (d *Deliverer) Check(ctx context.Context, rcpt string, size int64) (*directory.Recipient, error) {
	r, err := d.dir.Resolve(ctx, rcpt)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, ErrUnknownRecipient
	}
	if err != nil {
		return nil, err
	}
	if r.Account != nil {
		return r, checkAccount(r.Account, size)
	}
	return r, nil
}

func checkAccount(a *directory.Account, size int64) error {
	switch {
	case a.Status == directory.StatusClosed:
		return ErrUnknownRecipient
	case a.Status != directory.StatusActive:
		return ErrMailboxDisabled
	case !a.Has(directory.FeatureMail):
		return ErrNoMailService
	case a.MaxMessageSize > 0 && size > a.MaxMessageSize:
		return ErrTooLarge
	case len(a.ForwardTo) > 0 && !a.ForwardKeep:
		return nil // nothing is stored here
	case a.UsedBytes+size > a.QuotaBytes:
		return ErrOverQuota
	case overMessageCap(a):
		return ErrOverQuota
	}
	return nil
}

// overMessageCap reports whether an account keeps as many messages as its class of service
// allows (the MESSAGE quota resource); one more is refused like a full mailbox.
func overMessageCap(a *directory.Account) bool {
	return a.MaxMessages > 0 && a.UsedMessages >= a.MaxMessages && (len(a.ForwardTo) == 0 || a.ForwardKeep)
}

// plan is where one message goes.
type plan struct {
	accounts map[int64]*directory.Account
	order    []int64
	// direct maps each account to the indexes of the original recipients that name it (or an
	// alias of it) directly; an account reached only through a list has none, and its failure
	// does not fail the list's recipient.
	direct map[int64][]int
	remote []string
	// remoteOf marks the original recipients that reach a remote address, directly or by
	// forwarding.
	remoteOf map[int]bool
	// queueErr is the queue's refusal of the remote addresses (nil: queued).
	queueErr error
	errs     []error
	// overCap counts the list members left out for being at their message quota.
	overCap int
	// stored is the outcome of each account's delivery (nil: stored).
	stored map[int64]error
}

func (p *plan) addAccount(a *directory.Account, rcpt int) {
	if _, ok := p.accounts[a.ID]; !ok {
		p.accounts[a.ID] = a
		p.order = append(p.order, a.ID)
	}
	if rcpt >= 0 {
		p.direct[a.ID] = append(p.direct[a.ID], rcpt)
	}
}

// addRemote adds a remote address (rcpt is the index of the original recipient it comes from,
// or -1 through a list).
func (p *plan) addRemote(addr string, rcpt int) {
	if rcpt >= 0 {
		p.remoteOf[rcpt] = true
	}
	for _, r := range p.remote {
		if r == addr {
			return
		}
	}
	p.remote = append(p.remote, addr)
}

// expand resolves every recipient into accounts and remote addresses.
func (d *Deliverer) expand(ctx context.Context, env *Envelope) (*plan, error) {
	p := &plan{accounts: map[int64]*directory.Account{}, direct: map[int64][]int{}, remoteOf: map[int]bool{}, errs: make([]error, len(env.Rcpts)), stored: map[int64]error{}}
	size := int64(len(env.Raw))
	for i, rcpt := range env.Rcpts {
		r, err := d.dir.Resolve(ctx, rcpt)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			local, lerr := d.dir.IsLocalDomain(ctx, domainOf(rcpt))
			if lerr != nil {
				return nil, lerr
			}
			if local {
				p.errs[i] = ErrUnknownRecipient
			} else {
				p.addRemote(strings.ToLower(rcpt), i)
			}
			continue
		case err != nil:
			return nil, err
		}
		if r.List != nil {
			ok, err := d.dir.MayPost(ctx, r.List, env.From)
			if err != nil {
				return nil, err
			}
			if !ok && !env.System {
				p.errs[i] = ErrNotAllowedToPost
				continue
			}
			accounts, external, err := d.dir.ExpandList(ctx, r.List.ID)
			if err != nil {
				return nil, err
			}
			for _, a := range accounts {
				if overMessageCap(a) && !env.System {
					d.log.Info("deliver: list member over its message quota", "member", a.Address)
					p.overCap++
					continue
				}
				if err := checkAccount(a, size); err == nil || errors.Is(err, ErrOverQuota) {
					d.addWithForwarding(ctx, p, a, -1, 0)
				}
			}
			for _, x := range external {
				p.addRemote(x, -1)
			}
			continue
		}
		if err := checkAccount(r.Account, size); err != nil && !errors.Is(err, ErrOverQuota) {
			p.errs[i] = err
			continue
		}
		if overMessageCap(r.Account) && !env.System {
			p.errs[i] = ErrOverQuota
			continue
		}
		d.addWithForwarding(ctx, p, r.Account, i, 0)
	}
	return p, nil
}

// addWithForwarding adds an account (rcpt is the index of the recipient naming it directly, or
// -1 through a list), following its forwarding addresses: local ones are resolved again, up to
// a small depth so a forwarding loop ends.
func (d *Deliverer) addWithForwarding(ctx context.Context, p *plan, a *directory.Account, rcpt, depth int) {
	if len(a.ForwardTo) == 0 || depth > 3 {
		p.addAccount(a, rcpt)
		return
	}
	if a.ForwardKeep {
		p.addAccount(a, rcpt)
	}
	for _, f := range a.ForwardTo {
		r, err := d.dir.Resolve(ctx, f)
		if err != nil || r.Account == nil {
			if local, _ := d.dir.IsLocalDomain(ctx, domainOf(f)); !local {
				p.addRemote(f, rcpt)
			}
			continue
		}
		if _, seen := p.accounts[r.Account.ID]; !seen {
			d.addWithForwarding(ctx, p, r.Account, rcpt, depth+1)
		}
	}
}

// storedAny reports whether the message was stored in any mailbox.
func (p *plan) storedAny() bool {
	for _, id := range p.order {
		if p.stored[id] == nil {
			return true
		}
	}
	return false
}

// storedFor reports whether the message was stored in a mailbox the original recipient rcpt
// names.
func (p *plan) storedFor(rcpt int) bool {
	for _, id := range p.order {
		if p.stored[id] == nil && slices.Contains(p.direct[id], rcpt) {
			return true
		}
	}
	return false
}

func domainOf(addr string) string { return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:]) }

// Deliver delivers env and returns one error per recipient (nil: delivered or queued). The
// second result is an error only when nothing could be done (database or disk failure); then
// nothing was stored for anyone, and the whole message may be tried again. When the queue
// fails after local copies were stored, the recipients that had only the queue get
// ErrNotQueued, and no copy is stored twice by a new try.
//
// The Observer counts one outcome per recipient refused here (unknown, disabled, over quota,
// ...), per list member left out at its message quota, and per mailbox the message was for
// (stored, or the store's refusal). Remote recipients are the queue's and not counted; the
// recipients the SMTP server refused at RCPT TO never reach this function, and are counted by
// Refused.
func (d *Deliverer) Deliver(ctx context.Context, env *Envelope) ([]error, error) {
	p, err := d.expand(ctx, env)
	if err != nil {
		return nil, err
	}
	for _, e := range p.errs {
		if e != nil {
			d.observe(resultOf(e), 1)
		}
	}
	d.observe(resultOverQuota, p.overCap)
	var raw bytes.Buffer
	raw.Grow(len(env.Header) + len(env.Raw) + 64)
	fmt.Fprintf(&raw, "Return-Path: <%s>\r\n", env.From)
	raw.Write(env.Header)
	raw.Write(env.Raw)
	content := raw.Bytes()
	if len(p.order) > 0 {
		parsed, err := message.Parse(content)
		if err != nil {
			d.observe(resultError, len(p.order))
			return nil, err
		}
		targets := make([]mailstore.Target, len(p.order))
		for i, id := range p.order {
			targets[i] = mailstore.Target{AccountID: id, IgnoreQuota: env.System}
			if env.Junk {
				targets[i].Mailbox = "Junk"
			}
		}
		results, err := d.store.Deliver(ctx, &mailstore.Delivery{Raw: content, Parsed: parsed, Targets: targets})
		if err != nil {
			d.observe(resultError, len(p.order))
			return nil, err
		}
		for i, id := range p.order {
			res := results[i]
			p.stored[id] = res.Err
			d.observe(resultOf(res.Err), 1)
			var terr error
			switch {
			case errors.Is(res.Err, mailstore.ErrOverQuota):
				terr = ErrOverQuota
			case res.Err != nil:
				terr = res.Err
			default:
				d.maybeWarnQuota(ctx, p.accounts[id], res)
			}
			if terr != nil {
				for _, rcpt := range p.direct[id] {
					p.errs[rcpt] = terr
				}
				if len(p.direct[id]) == 0 {
					d.log.Info("deliver: list member not delivered", "member", p.accounts[id].Address, "err", terr)
				}
			}
		}
	}
	if len(p.remote) > 0 {
		if d.queue == nil {
			return nil, errors.New("deliver: no outbound queue")
		}
		// Remote recipients get the message without our Return-Path (the receiver adds its own).
		var out bytes.Buffer
		out.Write(env.Header)
		out.Write(env.Raw)
		raw := d.sign(ctx, out.Bytes())
		if err := d.queue.EnqueueRequireTLS(ctx, env.From, p.remote, raw, env.AccountID, env.RequireTLS); err != nil {
			if !p.storedAny() {
				return nil, err
			}
			d.log.Error("deliver: could not queue the remote recipients of a message stored locally", "remote", len(p.remote), "err", err)
			p.queueErr = fmt.Errorf("%w: %w", ErrNotQueued, err)
			for i := range p.remoteOf {
				if p.errs[i] == nil && !p.storedFor(i) {
					p.errs[i] = p.queueErr
				}
			}
		}
	}
	d.record(env, p, len(content))
	return p.errs, nil
}

// record writes what became of each recipient to the message log: the recipients as given,
// then the mailboxes and remote addresses reached only through lists or forwarding.
func (d *Deliverer) record(env *Envelope, p *plan, size int) {
	if d.msglog == nil {
		return
	}
	h, _ := message.ParseHeader(env.Raw)
	e := &msglog.Entry{MessageID: strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>"), From: env.From, Size: int64(size), Origin: env.Origin}
	if e.Source == "" {
		e.Source = "smtp"
		if env.System {
			e.Source = "system"
		}
	}
	mailbox := "INBOX"
	if env.Junk {
		mailbox = "Junk"
	}
	remote := map[string]bool{}
	for _, r := range p.remote {
		remote[r] = true
	}
	named := map[string]bool{}
	for i, rcpt := range env.Rcpts {
		lower := strings.ToLower(rcpt)
		named[lower] = true
		r := msglog.Rcpt{Address: rcpt, Outcome: msglog.Delivered}
		switch {
		case p.errs[i] != nil:
			r.Outcome, r.Detail = msglog.Refused, p.errs[i].Error()
		case remote[lower]:
			r.Outcome, r.Detail = msglog.Queued, "for "+domainOf(rcpt)
		default:
			var to []string
			for _, id := range p.order {
				for _, j := range p.direct[id] {
					if j == i && p.stored[id] == nil {
						to = append(to, p.accounts[id].Address+" ("+mailbox+")")
					}
				}
			}
			if len(to) == 0 {
				r.Detail = "list"
			} else {
				r.Detail = "to " + strings.Join(to, ", ")
			}
		}
		e.Rcpts = append(e.Rcpts, r)
	}
	for _, id := range p.order {
		if len(p.direct[id]) > 0 {
			continue
		}
		r := msglog.Rcpt{Address: p.accounts[id].Address, Outcome: msglog.Delivered, Detail: "through a list (" + mailbox + ")"}
		if err := p.stored[id]; err != nil {
			r.Outcome, r.Detail = msglog.Refused, "through a list: "+err.Error()
		}
		e.Rcpts = append(e.Rcpts, r)
	}
	for _, addr := range p.remote {
		if named[addr] {
			continue
		}
		r := msglog.Rcpt{Address: addr, Outcome: msglog.Queued, Detail: "through a list or forwarding"}
		if p.queueErr != nil {
			r.Outcome, r.Detail = msglog.Refused, "through a list or forwarding: "+p.queueErr.Error()
		}
		e.Rcpts = append(e.Rcpts, r)
	}
	d.msglog.Record(e)
}

// maybeWarnQuota sends one warning per threshold crossed (80, 90, 95 %), and re-arms the
// warnings when usage falls back below 80 %.
func (d *Deliverer) maybeWarnQuota(ctx context.Context, a *directory.Account, res mailstore.TargetResult) {
	if res.QuotaBytes <= 0 {
		return
	}
	pct := func(b int64) int { return int(b * 100 / res.QuotaBytes) }
	level := 0
	for _, t := range []int{80, 90, 95} {
		if pct(res.UsedAfter) >= t {
			level = t
		}
	}
	var warned int
	if err := d.db.QueryRowContext(ctx, `SELECT quota_warned FROM accounts WHERE id = ?`, a.ID).Scan(&warned); err != nil {
		return
	}
	if level <= warned {
		if level == 0 && warned > 0 {
			d.db.ExecContext(ctx, `UPDATE accounts SET quota_warned = 0 WHERE id = ?`, a.ID)
		}
		return
	}
	res2, err := d.db.ExecContext(ctx, `UPDATE accounts SET quota_warned = ? WHERE id = ? AND quota_warned = ?`, level, a.ID, warned)
	if err != nil {
		return
	}
	if n, _ := res2.RowsAffected(); n == 0 {
		return // another delivery sent this warning
	}
	msg := fmt.Sprintf("From: Mail System <postmaster@%s>\r\nTo: <%s>\r\nSubject: Your mailbox is %d%% full\r\nDate: %s\r\n"+
		"Message-ID: <quota-%d-%d@%s>\r\nAuto-Submitted: auto-generated\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Your mailbox %s uses %.1f MB of its %.1f MB quota (%d%%).\r\n"+
		"When it is full, new messages will be refused. Delete old messages or ask your administrator for more space.\r\n",
		d.hostname, a.Address, level, time.Now().Format(time.RFC1123Z), a.ID, time.Now().UnixNano(), d.hostname,
		a.Address, float64(res.UsedAfter)/(1<<20), float64(res.QuotaBytes)/(1<<20), pct(res.UsedAfter))
	warning, err := d.store.Deliver(ctx, &mailstore.Delivery{Raw: []byte(msg), Targets: []mailstore.Target{{AccountID: a.ID, IgnoreQuota: true}}})
	if err != nil {
		d.log.Warn("deliver: quota warning", "account", a.Address, "err", err)
		d.observe(resultError, 1)
		return
	}
	d.observe(resultOf(warning[0].Err), 1)
}
