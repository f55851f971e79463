package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/postamail/posta/internal/db"
	"github.com/postamail/posta/internal/directory"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/message"
)

// Plan is the pre-flight report: what the source holds, where it goes, what will be skipped,
// and whether the destination has room.
type Plan struct {
	Folders []*FolderPlan `json:"folders"`
	// SizeLimit is the destination's message size limit; larger messages are skipped.
	SizeLimit int64 `json:"size_limit"`
	// QuotaBytes is the destination's quota (0: none), UsedBytes its usage before the copy,
	// NeededBytes what the messages still to copy take.
	QuotaBytes  int64 `json:"quota_bytes"`
	UsedBytes   int64 `json:"used_bytes"`
	NeededBytes int64 `json:"needed_bytes"`
	// QuotaSufficient is false when the messages do not fit; ShortfallMB says by how much.
	QuotaSufficient bool  `json:"quota_sufficient"`
	ShortfallMB     int64 `json:"shortfall_mb,omitempty"`
	// StatusSize says whether the source gave folder sizes with STATUS SIZE (else they were
	// summed from FETCH RFC822.SIZE).
	StatusSize bool `json:"status_size"`
	// TooLarge lists the messages over the size limit.
	TooLarge []Item  `json:"too_large,omitempty"`
	Elapsed  float64 `json:"elapsed_seconds,omitempty"`
}

// FolderPlan is one source folder: its mapping, its content and, after the copy, the outcome.
type FolderPlan struct {
	Mapping
	Messages    int64  `json:"messages"`
	Bytes       int64  `json:"bytes"`
	UIDValidity uint32 `json:"uidvalidity,omitempty"`
	// ToCopy and ToCopyBytes are the messages not copied yet (by an earlier run) that fit.
	ToCopy        int64 `json:"to_copy"`
	ToCopyBytes   int64 `json:"to_copy_bytes"`
	AlreadyCopied int64 `json:"already_copied"`
	TooLarge      int64 `json:"too_large"`
	Copied        int64 `json:"copied"`
	CopiedBytes   int64 `json:"copied_bytes"`
	Skipped       int64 `json:"skipped"`
	Failed        int64 `json:"failed"`
	FlagsSynced   int64 `json:"flags_synced"`

	msgs     []srcMessage
	copy     []srcMessage
	syncs    []flagSync
	dupItems []Item
}

// Item is one message the job skipped or could not copy.
type Item struct {
	Folder  string `json:"folder"`
	UID     uint32 `json:"uid"`
	Outcome string `json:"outcome"` // skipped or failed
	// Reason is too-large, duplicate, vanished, unsupported, over-quota or source-error.
	Reason  string `json:"reason"`
	Detail  string `json:"detail,omitempty"` // the server's answer, or why
	Size    int64  `json:"size"`
	Subject string `json:"subject,omitempty"`
}

type flagSync struct {
	uid       uint32
	mailboxID int64
	destUID   uint32
	flags     []string
}

// record is one copied message as remembered.
type record struct {
	uidValidity uint32
	uid         uint32
	contentID   string
	mailboxID   int64
	destUID     uint32
	flags       string
}

// contentID identifies a message by its Message-ID, size and date, or "" without Message-ID.
func contentID(m srcMessage) string {
	id := message.NormalizeMessageID(m.MessageID)
	if id == "" {
		return ""
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%d", id, m.Size, m.Date))
	return hex.EncodeToString(h[:12])
}

func flagString(flags []string) string {
	f := slices.Clone(flags)
	for i := range f {
		if strings.HasPrefix(f[i], `\`) {
			f[i] = strings.ToLower(f[i])
		}
	}
	slices.Sort(f)
	return strings.Join(slices.Compact(f), " ")
}

// run is one attempt at a job.
type run struct {
	s      *Service
	job    *Job
	acc    *directory.Account
	cfg    sourceConfig
	source string
	plan   *Plan
	lim    *limiter
	// Folders copied at once (each with its own connection), messages per FETCH, and how
	// many FETCHes are sent ahead of the one being stored.
	parallel, batch, depth int

	copied, copiedBytes, skipped, failed, flagsSynced, done, doneBytes atomic.Int64
	itemsMu                                                            sync.Mutex
}

// execute runs the job: pre-flight, then (unless a dry run) the copy. It returns a *JobError
// for a failure the report should explain.
func (r *run) execute(ctx context.Context, phase func(string)) error {
	start := time.Now()
	phase("preflight")
	src, err := dialSource(ctx, r.s.opts.Dialer, r.cfg)
	if err != nil {
		return err
	}
	plan, err := r.preflight(ctx, src)
	src.logout()
	if err != nil {
		return err
	}
	r.plan = plan
	if err := r.s.savePlan(ctx, r.job.ID, plan); err != nil {
		return err
	}
	if !plan.QuotaSufficient && !r.job.Force && !r.job.DryRun {
		return &JobError{Kind: "quota-insufficient", Permanent: true, Msg: fmt.Sprintf(
			"the destination %s has %d MB free but the messages to copy take %d MB: %d MB short; raise the quota or force the migration",
			r.acc.Address, max(0, plan.QuotaBytes-plan.UsedBytes)>>20, plan.NeededBytes>>20, plan.ShortfallMB)}
	}
	if r.job.DryRun {
		plan.Elapsed = time.Since(start).Seconds()
		return r.s.savePlan(ctx, r.job.ID, plan)
	}
	phase("copy")
	if err := r.copyAll(ctx); err != nil {
		return err
	}
	plan.Elapsed = time.Since(start).Seconds()
	return r.s.savePlan(context.WithoutCancel(ctx), r.job.ID, plan)
}

// preflight lists the folders and their messages and decides what to copy.
func (r *run) preflight(ctx context.Context, src *source) (*Plan, error) {
	infos, err := src.folders()
	if err != nil {
		return nil, err
	}
	boxes, err := r.s.store.Mailboxes(ctx, r.acc.ID)
	if err != nil {
		return nil, err
	}
	special := map[string]string{}
	for _, b := range boxes {
		if b.SpecialUse != "" && special[b.SpecialUse] == "" {
			special[b.SpecialUse] = b.Name
		}
	}
	sf := make([]SourceFolder, len(infos))
	for i, f := range infos {
		sf[i] = f.SourceFolder
	}
	maps := MapFolders(sf, special)
	q, err := r.s.store.Quota(ctx, r.acc.ID)
	if err != nil {
		return nil, err
	}
	plan := &Plan{SizeLimit: r.sizeLimit(), QuotaBytes: q.LimitBytes, UsedBytes: q.UsedBytes,
		StatusSize: src.caps.Has(imap.CapStatusSize) || src.caps.Has(imap.CapIMAP4rev2)}
	for i, f := range infos {
		fp := &FolderPlan{Mapping: maps[i], Messages: f.Messages, Bytes: max(f.Size, 0)}
		plan.Folders = append(plan.Folders, fp)
		if fp.Skip != "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		uv, msgs, err := src.examine(f.Name)
		if err != nil {
			return nil, err
		}
		fp.UIDValidity, fp.msgs, fp.Messages = uv, msgs, int64(len(msgs))
		var sum int64
		for _, m := range msgs {
			sum += m.Size
		}
		if f.Size < 0 {
			fp.Bytes = sum
		}
		if err := r.classify(ctx, fp, plan); err != nil {
			return nil, err
		}
		plan.NeededBytes += fp.ToCopyBytes
	}
	plan.QuotaSufficient = plan.QuotaBytes <= 0 || plan.UsedBytes+plan.NeededBytes <= plan.QuotaBytes
	if !plan.QuotaSufficient {
		short := plan.UsedBytes + plan.NeededBytes - plan.QuotaBytes
		plan.ShortfallMB = (short + 1<<20 - 1) >> 20
	}
	return plan, nil
}

func (r *run) sizeLimit() int64 {
	if r.acc.MaxMessageSize > 0 {
		return r.acc.MaxMessageSize
	}
	return r.s.opts.MaxMessageSize
}

// classify sorts a folder's messages: already copied (with flags to sync), too large,
// duplicates, and those to copy.
func (r *run) classify(ctx context.Context, fp *FolderPlan, plan *Plan) error {
	recs, err := r.s.records(ctx, r.acc.ID, r.source, fp.Source)
	if err != nil {
		return err
	}
	byUID := map[uint32]*record{}
	byContent := map[string]*record{}
	for _, rc := range recs {
		if rc.uidValidity == fp.UIDValidity {
			byUID[rc.uid] = rc
		}
		if rc.contentID != "" {
			byContent[rc.contentID] = rc
		}
	}
	seen := map[string]bool{}
	for _, m := range fp.msgs {
		cid := contentID(m)
		if rc := byUID[m.UID]; rc != nil {
			fp.AlreadyCopied++
			if flagString(m.Flags) != rc.flags {
				fp.syncs = append(fp.syncs, flagSync{uid: m.UID, mailboxID: rc.mailboxID, destUID: rc.destUID, flags: m.Flags})
			}
			if cid != "" {
				seen[cid] = true
			}
			continue
		}
		if m.Size > plan.SizeLimit {
			fp.TooLarge++
			plan.TooLarge = append(plan.TooLarge, Item{Folder: fp.Source, UID: m.UID, Outcome: "skipped", Reason: "too-large", Size: m.Size, Subject: m.Subject,
				Detail: fmt.Sprintf("%d bytes; the destination accepts at most %d", m.Size, plan.SizeLimit)})
			continue
		}
		if cid != "" && seen[cid] {
			fp.dupItems = append(fp.dupItems, Item{Folder: fp.Source, UID: m.UID, Outcome: "skipped", Reason: "duplicate", Size: m.Size, Subject: m.Subject,
				Detail: "the same message (Message-ID, size, date) is already in this folder"})
			continue
		}
		if rc := byContent[cid]; cid != "" && rc != nil {
			// Copied before under another UIDVALIDITY (the source re-created the folder): the
			// same message, not copied again.
			fp.AlreadyCopied++
			seen[cid] = true
			fp.syncs = append(fp.syncs, flagSync{uid: m.UID, mailboxID: rc.mailboxID, destUID: rc.destUID, flags: m.Flags})
			continue
		}
		if cid != "" {
			seen[cid] = true
		}
		fp.copy = append(fp.copy, m)
		fp.ToCopy++
		fp.ToCopyBytes += m.Size
	}
	return nil
}

// copyAll copies every folder, several at once.
func (r *run) copyAll(ctx context.Context) error {
	var total, totalBytes int64
	for _, fp := range r.plan.Folders {
		total += fp.ToCopy + int64(len(fp.dupItems))
		totalBytes += fp.ToCopyBytes
	}
	if err := r.s.setTotals(ctx, r.job.ID, total, totalBytes); err != nil {
		return err
	}
	for _, it := range r.plan.TooLarge {
		r.item(ctx, it)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, r.parallel)
	var wg sync.WaitGroup
	for _, fp := range r.plan.Folders {
		if fp.Skip != "" || (len(fp.copy) == 0 && len(fp.syncs) == 0 && len(fp.dupItems) == 0) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.copyFolder(ctx, fp); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// destMailbox finds or creates the destination mailbox of a folder.
func (r *run) destMailbox(ctx context.Context, fp *FolderPlan) (*mailstore.Mailbox, error) {
	if fp.SpecialUse != "" {
		if mb, err := r.s.store.MailboxBySpecialUse(ctx, r.acc.ID, fp.SpecialUse); err == nil {
			return mb, nil
		}
	}
	mb, err := r.s.store.Mailbox(ctx, r.acc.ID, fp.Dest)
	if errors.Is(err, mailstore.ErrNoMailbox) {
		mb, err = r.s.store.CreateMailbox(ctx, r.acc.ID, fp.Dest, fp.SpecialUse)
		if errors.Is(err, mailstore.ErrMailboxExists) {
			mb, err = r.s.store.Mailbox(ctx, r.acc.ID, fp.Dest)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: destination mailbox %q: %w", fp.Dest, err)
	}
	return mb, nil
}

// copyFolder syncs flags of messages copied before, then copies the new ones with pipelined
// FETCHes, a batch at a time, each batch stored in one commit.
func (r *run) copyFolder(ctx context.Context, fp *FolderPlan) error {
	mb, err := r.destMailbox(ctx, fp)
	if err != nil {
		return err
	}
	for _, it := range fp.dupItems {
		atomic.AddInt64(&fp.Skipped, 1)
		r.item(ctx, it)
		r.done.Add(1)
	}
	if err := r.syncFlags(ctx, fp); err != nil {
		return err
	}
	if len(fp.copy) == 0 {
		return nil
	}
	existing, err := r.destIndex(ctx, mb)
	if err != nil {
		return err
	}
	src, err := dialSource(ctx, r.s.opts.Dialer, r.cfg)
	if err != nil {
		return err
	}
	defer src.close()
	sel, err := src.c.Select(fp.Source, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return &JobError{Kind: "source-error", Msg: fmt.Sprintf("EXAMINE %q on the source failed: %s", fp.Source, serverAnswer(err)), Err: err}
	}
	if sel.UIDValidity != fp.UIDValidity {
		return &JobError{Kind: "source-changed", Msg: fmt.Sprintf("the source folder %q changed its UIDVALIDITY during the migration; it will be listed again", fp.Source)}
	}
	// Split into batches by count and bytes.
	var batches [][]srcMessage
	var cur []srcMessage
	var curBytes int64
	for _, m := range fp.copy {
		if len(cur) > 0 && (len(cur) >= r.batch || curBytes+m.Size > 8<<20) {
			batches = append(batches, cur)
			cur, curBytes = nil, 0
		}
		cur = append(cur, m)
		curBytes += m.Size
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	// Pipelining: up to depth+1 FETCHes are in flight, each read by its own goroutine as it
	// arrives (servers such as Dovecot answer pipelined FETCHes interleaved, before the first
	// one's completion), and stored in order.
	type result struct {
		bufs []*fetchBuffer
		err  error
	}
	type pending struct {
		msgs []srcMessage
		res  chan result
	}
	opts := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	slots := make(chan struct{}, r.depth+1)
	queue := make(chan pending, r.depth+1)
	stop := make(chan struct{})
	go func() {
		defer close(queue)
		for _, b := range batches {
			select {
			case slots <- struct{}{}:
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
			var set imap.UIDSet
			for _, m := range b {
				set.AddNum(imap.UID(m.UID))
			}
			p := pending{msgs: b, res: make(chan result, 1)}
			cmd := src.c.Fetch(set, opts)
			go func() {
				bufs, err := collectBodies(cmd, r.sizeLimit())
				p.res <- result{bufs, err}
			}()
			queue <- p
		}
	}()
	defer func() {
		// Wait for the FETCHes in flight, so that the connection closes cleanly.
		for p := range queue {
			<-p.res
			<-slots
		}
	}()
	defer close(stop)
	for p := range queue {
		res := <-p.res
		<-slots
		if err := res.err; err != nil {
			var ie *imap.Error
			if !errors.As(err, &ie) {
				return &JobError{Kind: "source-error", Msg: fmt.Sprintf("FETCH in %q: %v", fp.Source, err), Err: err}
			}
			// The server refused the batch: every message of it failed, with its answer.
			for _, m := range p.msgs {
				r.fail(ctx, fp, m, "source-error", serverAnswer(err))
			}
			continue
		}
		if err := r.storeBatch(ctx, fp, mb, p.msgs, res.bufs, existing); err != nil {
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return ctx.Err()
}

type fetchBuffer struct {
	uid  uint32
	raw  []byte
	ok   bool
	size int64 // of a body over the limit, not kept
}

// collectBodies reads the UIDs and bodies of a FETCH's answer; bodies over max bytes are read
// and dropped.
func collectBodies(cmd *imapclient.FetchCommand, max int64) ([]*fetchBuffer, error) {
	var out []*fetchBuffer
	for {
		m := cmd.Next()
		if m == nil {
			break
		}
		fb := &fetchBuffer{}
		for {
			item := m.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				fb.uid = uint32(it.UID)
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				n := it.Literal.Size()
				if n > max {
					// Larger than the listing said: read past it, keep nothing.
					if _, err := io.Copy(io.Discard, it.Literal); err != nil {
						cmd.Close()
						return nil, err
					}
					fb.size = n
					continue
				}
				raw := make([]byte, n)
				if _, err := io.ReadFull(it.Literal, raw); err != nil {
					cmd.Close()
					return nil, err
				}
				fb.raw, fb.ok = raw, true
			}
		}
		out = append(out, fb)
	}
	return out, cmd.Close()
}

func (r *run) item(ctx context.Context, it Item) {
	r.itemsMu.Lock()
	defer r.itemsMu.Unlock()
	if it.Outcome == "failed" {
		r.failed.Add(1)
	} else {
		r.skipped.Add(1)
	}
	r.s.messages.WithLabelValues(it.Outcome).Inc()
	if err := r.s.addItem(context.WithoutCancel(ctx), r.job.ID, it); err != nil {
		r.s.log.Warn("migration: record item", "job", r.job.ID, "err", err)
	}
}

func (r *run) fail(ctx context.Context, fp *FolderPlan, m srcMessage, reason, detail string) {
	atomic.AddInt64(&fp.Failed, 1)
	r.done.Add(1)
	r.item(ctx, Item{Folder: fp.Source, UID: m.UID, Outcome: "failed", Reason: reason, Detail: detail, Size: m.Size, Subject: m.Subject})
}

func (r *run) skip(ctx context.Context, fp *FolderPlan, m srcMessage, reason, detail string) {
	atomic.AddInt64(&fp.Skipped, 1)
	r.done.Add(1)
	r.item(ctx, Item{Folder: fp.Source, UID: m.UID, Outcome: "skipped", Reason: reason, Detail: detail, Size: m.Size, Subject: m.Subject})
}

// destKey identifies a destination message like contentID does a source one.
type destKey struct {
	date      int64
	size      int64
	messageID string
}

// destIndex lists what the destination mailbox already holds, so that a message stored by a
// run killed before it could record the copy is recognised instead of stored twice.
func (r *run) destIndex(ctx context.Context, mb *mailstore.Mailbox) (map[destKey]uint32, error) {
	idx := map[destKey]uint32{}
	if mb.Messages == 0 {
		return idx, nil
	}
	claimed, err := r.s.claimedUIDs(ctx, r.acc.ID, mb.ID)
	if err != nil {
		return nil, err
	}
	err = r.s.store.Messages(ctx, mb.ID, nil, mailstore.WithEnvelope, func(m *mailstore.Message) error {
		if claimed[m.UID] {
			return nil
		}
		id := ""
		if m.Envelope != nil {
			id = message.NormalizeMessageID(m.Envelope.MessageID)
		}
		idx[destKey{m.InternalDate.Unix(), m.Size, id}] = m.UID
		return nil
	})
	return idx, err
}

// storeBatch stores one FETCH's messages through the mailstore in one commit and records them.
func (r *run) storeBatch(ctx context.Context, fp *FolderPlan, mb *mailstore.Mailbox, msgs []srcMessage, bufs []*fetchBuffer, existing map[destKey]uint32) error {
	got, over := map[uint32][]byte{}, map[uint32]int64{}
	for _, b := range bufs {
		if b.ok {
			got[b.uid] = b.raw
		} else if b.size > 0 {
			over[b.uid] = b.size
		}
	}
	var app []mailstore.AppendMessage
	var appMsgs []srcMessage
	var recs []record
	var bytes int64
	for _, m := range msgs {
		raw, ok := got[m.UID]
		if n := over[m.UID]; n > 0 {
			r.skip(ctx, fp, m, "too-large", fmt.Sprintf("%d bytes (the source listed %d); the destination accepts at most %d", n, m.Size, r.sizeLimit()))
			continue
		}
		if !ok {
			r.skip(ctx, fp, m, "vanished", "the message was deleted on the source during the migration")
			continue
		}
		if len(raw) == 0 {
			r.skip(ctx, fp, m, "unsupported", "the source returned an empty message")
			continue
		}
		if uid, ok := existing[destKey{m.Date, int64(len(raw)), message.NormalizeMessageID(m.MessageID)}]; ok {
			delete(existing, destKey{m.Date, int64(len(raw)), message.NormalizeMessageID(m.MessageID)})
			recs = append(recs, record{uidValidity: fp.UIDValidity, uid: m.UID, contentID: contentID(m), mailboxID: mb.ID, destUID: uid, flags: flagString(m.Flags)})
			r.skip(ctx, fp, m, "duplicate", "already in the destination")
			continue
		}
		f, kw := mailstore.SplitFlags(m.Flags)
		app = append(app, mailstore.AppendMessage{Raw: raw, Flags: f, Keywords: kw, Date: time.Unix(m.Date, 0)})
		appMsgs = append(appMsgs, m)
		bytes += int64(len(raw))
	}
	if err := r.lim.wait(ctx, bytes, len(app)); err != nil {
		return err
	}
	// Once handed to the store, a batch is committed and recorded whatever happens to ctx:
	// a cancelled job must not leave copies it does not know about.
	sctx := context.WithoutCancel(ctx)
	if len(app) > 0 {
		res, err := r.s.store.AppendMany(sctx, r.acc.ID, mb.ID, app)
		if err != nil {
			// Nothing of the batch was stored (a message the store cannot take): one by one,
			// to tell which.
			res = make([]mailstore.TargetResult, len(app))
			for i, a := range app {
				tr, err := r.s.store.Append(sctx, r.acc.ID, mb.ID, a.Raw, a.Flags, a.Keywords, a.Date)
				if err != nil && !errors.Is(err, mailstore.ErrOverQuota) {
					tr.Err = fmt.Errorf("%w: %v", errUnsupported, err)
				}
				res[i] = tr
			}
		}
		for i, tr := range res {
			m := appMsgs[i]
			switch {
			case tr.Err == nil:
				recs = append(recs, record{uidValidity: fp.UIDValidity, uid: m.UID, contentID: contentID(m), mailboxID: mb.ID, destUID: tr.UID, flags: flagString(m.Flags)})
				atomic.AddInt64(&fp.Copied, 1)
				atomic.AddInt64(&fp.CopiedBytes, int64(len(app[i].Raw)))
				r.copied.Add(1)
				r.copiedBytes.Add(int64(len(app[i].Raw)))
				r.s.messages.WithLabelValues("copied").Inc()
				r.s.bytes.Add(float64(len(app[i].Raw)))
				r.done.Add(1)
				r.doneBytes.Add(int64(len(app[i].Raw)))
			case errors.Is(tr.Err, mailstore.ErrOverQuota):
				r.fail(ctx, fp, m, "over-quota", "the destination mailbox is full")
			case errors.Is(tr.Err, errUnsupported):
				r.fail(ctx, fp, m, "unsupported", tr.Err.Error())
			default:
				return fmt.Errorf("migrate: store in %q: %w", mb.Name, tr.Err)
			}
		}
	}
	return r.s.saveRecords(sctx, r.acc.ID, r.source, fp.Source, recs)
}

var errUnsupported = errors.New("the message cannot be stored")

// syncFlags gives the destination copies the flags their originals have now.
func (r *run) syncFlags(ctx context.Context, fp *FolderPlan) error {
	if len(fp.syncs) == 0 {
		return nil
	}
	var recs []record
	for _, fs := range fp.syncs {
		f, kw := mailstore.SplitFlags(fs.flags)
		if _, _, err := r.s.store.StoreFlags(ctx, r.acc.ID, fs.mailboxID, []uint32{fs.destUID}, mailstore.FlagsReplace, f, kw, 0); err != nil {
			if errors.Is(err, mailstore.ErrNoMailbox) {
				continue // the copy's mailbox was deleted at the destination
			}
			return fmt.Errorf("migrate: sync flags: %w", err)
		}
		atomic.AddInt64(&fp.FlagsSynced, 1)
		r.flagsSynced.Add(1)
		recs = append(recs, record{uidValidity: fp.UIDValidity, uid: fs.uid, mailboxID: fs.mailboxID, destUID: fs.destUID, flags: flagString(fs.flags)})
	}
	return r.s.saveRecords(context.WithoutCancel(ctx), r.acc.ID, r.source, fp.Source, recs)
}

// records loads what was copied from a source folder into an account.
func (s *Service) records(ctx context.Context, accountID int64, source, folder string) ([]*record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT uidvalidity, uid, content_id, mailbox_id, dest_uid, flags FROM migration_copied
		WHERE account_id = ? AND source = ? AND folder = ?`, accountID, source, folder)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*record
	for rows.Next() {
		var rc record
		var uv, uid, duid int64
		if err := rows.Scan(&uv, &uid, &rc.contentID, &rc.mailboxID, &duid, &rc.flags); err != nil {
			return nil, err
		}
		rc.uidValidity, rc.uid, rc.destUID = uint32(uv), uint32(uid), uint32(duid)
		out = append(out, &rc)
	}
	return out, rows.Err()
}

// claimedUIDs are the destination UIDs of a mailbox that records point to.
func (s *Service) claimedUIDs(ctx context.Context, accountID, mailboxID int64) (map[uint32]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT dest_uid FROM migration_copied WHERE account_id = ? AND mailbox_id = ?`, accountID, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint32]bool{}
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out[uint32(u)] = true
	}
	return out, rows.Err()
}

// saveRecords remembers copied messages (and their flags) in one transaction.
func (s *Service) saveRecords(ctx context.Context, accountID int64, source, folder string, recs []record) error {
	if len(recs) == 0 {
		return nil
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		for _, rc := range recs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO migration_copied (account_id, source, folder, uidvalidity, uid, content_id, mailbox_id, dest_uid, flags)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, source, folder, uidvalidity, uid)
				DO UPDATE SET flags = excluded.flags, mailbox_id = excluded.mailbox_id, dest_uid = excluded.dest_uid`,
				accountID, source, folder, int64(rc.uidValidity), int64(rc.uid), rc.contentID, rc.mailboxID, int64(rc.destUID), rc.flags); err != nil {
				return fmt.Errorf("migrate: record copy: %w", err)
			}
		}
		return nil
	})
}

func (s *Service) addItem(ctx context.Context, jobID int64, it Item) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO migration_items (job_id, folder, uid, outcome, reason, detail, size, subject, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		jobID, it.Folder, int64(it.UID), it.Outcome, it.Reason, clip(it.Detail, 500), it.Size, clip(it.Subject, 200), db.Now())
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xc0 != 0x80 }

func (s *Service) savePlan(ctx context.Context, id int64, p *Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `UPDATE migration_jobs SET plan = ? WHERE id = ?`, string(b), id)
	return err
}

func (s *Service) setTotals(ctx context.Context, id, msgs, bytes int64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE migration_jobs SET msgs_total = ?, bytes_total = ? WHERE id = ?`, msgs, bytes, id)
	return err
}

// limiter spaces a job's work to its bandwidth and message-rate limits.
type limiter struct {
	mu          sync.Mutex
	start       time.Time
	bytes, msgs int64
	maxBytes    int64
	maxMsgs     int
}

func (l *limiter) wait(ctx context.Context, bytes int64, msgs int) error {
	if l == nil || (l.maxBytes <= 0 && l.maxMsgs <= 0) {
		return nil
	}
	l.mu.Lock()
	l.bytes += bytes
	l.msgs += int64(msgs)
	var due time.Duration
	if l.maxBytes > 0 {
		due = time.Duration(float64(l.bytes) / float64(l.maxBytes) * float64(time.Second))
	}
	if l.maxMsgs > 0 {
		due = max(due, time.Duration(float64(l.msgs)/float64(l.maxMsgs)*float64(time.Second)))
	}
	at := l.start.Add(due)
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
