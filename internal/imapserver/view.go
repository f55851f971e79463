package imapserver

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
)

// view is a selected mailbox as this session sees it: its own sorted UID list (sequence
// number n is uids[n-1]), changed only at the points where the session tells the client.
type view struct {
	mb        *mailstore.Mailbox
	readOnly  bool
	uids      uidList
	modseq    int64          // every change up to here has been reported (or is pending)
	own       map[int64]bool // MODSEQs of this session's own STOREs, already answered
	pending   []uint32       // expunged elsewhere, not yet reported (no EXPUNGE allowed yet)
	saved     []uint32       // SEARCHRES "$" as UIDs
	condstore bool           // CONDSTORE enabled or used: FETCH responses carry MODSEQ
}

func (v *view) seqOf(uid uint32) int { return v.uids.SeqOf(uid) }

func (v *view) maxUID() uint32 { return v.uids.Max() }

// resolve turns a sequence set or UID set into the sorted UIDs of the view it names. Sequence
// numbers beyond the mailbox are an error; UIDs that do not exist are skipped (RFC 9051 §6.4.8).
func (v *view) resolve(set imapwire.SeqSet, uid bool) ([]uint32, error) {
	if set.Saved {
		out := make([]uint32, 0, len(v.saved))
		for _, u := range v.saved {
			if v.seqOf(u) > 0 {
				out = append(out, u)
			}
		}
		return out, nil
	}
	out := []uint32{}
	if uid {
		for _, r := range set.Resolve(v.maxUID()) {
			out = v.uids.Between(out, r.Start, r.Stop)
		}
		return out, nil
	}
	n := uint32(v.uids.Len())
	for _, r := range set.Resolve(n) {
		if r.Stop > n {
			return nil, bad("Sequence number %d does not exist (%d messages)", r.Stop, n)
		}
		out = v.uids.Between(out, v.uids.At(int(r.Start)), v.uids.At(int(r.Stop)))
	}
	return out, nil
}

// updates tells the client what changed in the selected mailbox since it last heard: new
// messages (EXISTS), flag changes by others (FETCH), and, when allowed, expunges (EXPUNGE, or
// VANISHED with QRESYNC).
func (s *session) updates(ctx context.Context, allowExpunge bool) error {
	v := s.sel
	if v == nil {
		return nil
	}
	select {
	case <-s.sub.C:
		if err := s.poll(ctx); err != nil {
			return err
		}
	default:
	}
	if allowExpunge && len(v.pending) > 0 {
		slices.Sort(v.pending)
		s.reportExpunged(v.pending)
		v.pending = nil
	}
	return nil
}

// poll reads the changes since the view's MODSEQ and reports new messages and flag changes;
// expunges are queued in pending.
func (s *session) poll(ctx context.Context) error {
	v := s.sel
	{
		gen := s.srv.store.Bus().Gen() // read after the wake-up: see the changes that caused it
		changed, vanished, err := s.srv.feed.since(ctx, s.srv.store, v.mb.ID, v.modseq, gen)
		if err != nil {
			return err
		}
		for _, u := range vanished {
			if v.seqOf(u) > 0 && !slices.Contains(v.pending, u) {
				v.pending = append(v.pending, u)
			}
		}
		var fetches []*mailstore.Message
		before := v.uids.Len()
		maxSeen := v.modseq
		for _, m := range changed {
			maxSeen = max(maxSeen, m.ModSeq)
			if v.seqOf(m.UID) > 0 {
				if !v.own[m.ModSeq] {
					fetches = append(fetches, m)
				}
				continue
			}
			if slices.Contains(vanished, m.UID) {
				continue
			}
			v.uids.Insert(m.UID)
		}
		v.modseq = maxSeen
		for ms := range v.own {
			if ms <= v.modseq {
				delete(v.own, ms)
			}
		}
		for _, m := range fetches {
			if slices.Contains(v.pending, m.UID) {
				continue
			}
			s.writeFlagsFetch(v.seqOf(m.UID), m.UID, m.FlagNames(), m.ModSeq, true)
		}
		if v.uids.Len() != before {
			s.untagged("%d EXISTS", v.uids.Len())
		}
	}
	return nil
}

// reportExpunged removes uids from the view and tells the client.
func (s *session) reportExpunged(uids []uint32) {
	v := s.sel
	if s.enabled["QRESYNC"] {
		var gone []uint32
		for _, u := range uids {
			if v.seqOf(u) > 0 {
				v.uids.Delete(u)
				gone = append(gone, u)
			}
		}
		if len(gone) > 0 {
			s.untagged("VANISHED %s", imapwire.FormatSet(gone))
		}
		return
	}
	// Highest sequence numbers first, so each number is valid when sent.
	for i := len(uids) - 1; i >= 0; i-- {
		if seq := v.seqOf(uids[i]); seq > 0 {
			v.uids.Delete(uids[i])
			s.untagged("%d EXPUNGE", seq)
		}
	}
}

// mailboxName reads a mailbox name argument: modified UTF-7 unless the client enabled UTF-8
// (a name that is not valid modified UTF-7 but is UTF-8 is taken as it is).
func (s *session) mailboxName(p *imapwire.Parser) (string, error) {
	raw, err := p.AString()
	if err != nil {
		return "", err
	}
	return s.decodeName(raw), nil
}

func (s *session) decodeName(raw string) string {
	if strings.EqualFold(raw, "INBOX") {
		return mailstore.Inbox
	}
	if s.w.UTF8 {
		return raw
	}
	if name, err := imapwire.DecodeMailbox(raw); err == nil {
		return name
	}
	return raw
}

// encodeName is how a mailbox name goes on the wire.
func (s *session) writeName(name string) {
	if s.w.UTF8 {
		s.w.AStr(name)
		return
	}
	s.w.AStr(imapwire.EncodeMailbox(name))
}

func cmdSelect(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	var qresync *qresyncParams
	condstore := false
	if p.Consume(' ') {
		err := p.List(func() error {
			k, err := p.Keyword()
			if err != nil {
				return err
			}
			switch k {
			case "CONDSTORE":
				condstore = true
			case "QRESYNC":
				if !s.enabled["QRESYNC"] {
					return bad("ENABLE QRESYNC first")
				}
				if err := p.SP(); err != nil {
					return err
				}
				qresync, err = parseQresync(p)
				return err
			default:
				return bad("Unknown SELECT parameter %s", truncate(k, 20))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	// A failed SELECT leaves no mailbox selected (RFC 9051 §6.3.2).
	if s.sel != nil {
		s.sel = nil
		s.state = authenticated
		if s.enabled["QRESYNC"] {
			s.untagged("OK [CLOSED] Previous mailbox closed")
		}
	}
	mb, err := s.srv.store.Mailbox(ctx, s.acct.ID, name)
	if err != nil {
		return storeError(err)
	}
	// Drain the change signal first: everything up to the state read below is in the view.
	select {
	case <-s.sub.C:
	default:
	}
	runs, err := s.srv.store.UIDRuns(ctx, mb.ID)
	if err != nil {
		return err
	}
	if mb, err = s.srv.store.MailboxByID(ctx, s.acct.ID, mb.ID); err != nil {
		return storeError(err)
	}
	readOnly := s.cmd == "EXAMINE"
	v := &view{mb: mb, uids: uidListFromRuns(runs), modseq: mb.HighestModSeq, own: map[int64]bool{},
		condstore: condstore || s.enabled["CONDSTORE"]}
	if condstore {
		s.enabled["CONDSTORE"] = true
	}
	v.readOnly = readOnly
	s.sel = v
	s.state = selected
	s.untagged("%d EXISTS", v.uids.Len())
	if !s.enabled["IMAP4REV2"] {
		s.untagged("0 RECENT")
	}
	s.untagged(`FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded $Junk $NotJunk $MDNSent)`)
	if readOnly {
		s.untagged(`OK [PERMANENTFLAGS ()] Read-only mailbox`)
	} else {
		s.untagged(`OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] Flags permitted`)
	}
	if unseen := s.firstUnseen(ctx); unseen > 0 && !s.enabled["IMAP4REV2"] {
		s.untagged("OK [UNSEEN %d] First unseen", unseen)
	}
	s.untagged("OK [UIDVALIDITY %d] UIDs valid", mb.UIDValidity)
	s.untagged("OK [UIDNEXT %d] Predicted next UID", mb.UIDNext)
	s.untagged("OK [HIGHESTMODSEQ %d] Highest", mb.HighestModSeq)
	if s.enabled["IMAP4REV2"] {
		s.untagged("LIST () \"/\" %s", s.nameString(mb.Name))
	}
	if qresync != nil && qresync.uidValidity == mb.UIDValidity {
		if err := s.qresyncReplay(ctx, qresync); err != nil {
			return err
		}
	}
	if readOnly {
		return &okCode{code: "READ-ONLY", text: "EXAMINE completed"}
	}
	return &okCode{code: "READ-WRITE", text: "SELECT completed"}
}

func (s *session) nameString(name string) string {
	var b strings.Builder
	enc := name
	if !s.w.UTF8 {
		enc = imapwire.EncodeMailbox(name)
	}
	b.WriteString(imapwire.Quote(enc))
	return b.String()
}

func (s *session) firstUnseen(ctx context.Context) int {
	if s.sel.mb.Unseen == 0 {
		return 0 // the mailbox's counter says there is none: no need to look
	}
	uid, err := s.srv.store.FirstUnseen(ctx, s.sel.mb.ID)
	if err != nil || uid == 0 {
		return 0
	}
	return s.sel.seqOf(uid)
}

func cmdClose(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	v := s.sel
	if !v.readOnly {
		// Silent expunge of \Deleted messages (RFC 9051 §6.4.1).
		if _, err := s.srv.store.Expunge(ctx, s.acct.ID, v.mb.ID, v.uids.All()); err != nil {
			return storeError(err)
		}
	}
	s.sel = nil
	s.state = authenticated
	return nil
}

func cmdUnselect(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.sel = nil
	s.state = authenticated
	return nil
}

func cmdExpunge(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	v := s.sel
	uids := v.uids.All()
	if s.cmd == "UID EXPUNGE" {
		set, err := p.SeqSet()
		if err != nil {
			return err
		}
		if uids, err = v.resolve(set, true); err != nil {
			return err
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	if v.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	gone, err := s.srv.store.Expunge(ctx, s.acct.ID, v.mb.ID, uids)
	if err != nil {
		return storeError(err)
	}
	if err := s.updates(ctx, true); err != nil {
		return err
	}
	s.reportExpunged(gone)
	if v.condstore {
		if mb, err := s.srv.store.MailboxByID(ctx, s.acct.ID, v.mb.ID); err == nil {
			return &okCode{code: "HIGHESTMODSEQ " + strconv.FormatInt(mb.HighestModSeq, 10), text: "EXPUNGE completed"}
		}
	}
	return nil
}
