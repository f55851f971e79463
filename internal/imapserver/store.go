package imapserver

import (
	"context"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
)

func cmdStore(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	v := s.sel
	uidCmd := s.cmd == "UID STORE"
	set, err := p.SeqSet()
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	var unchangedSince int64
	if p.Peek() == '(' {
		err := p.List(func() error {
			k, err := p.Keyword()
			if err != nil {
				return err
			}
			if k != "UNCHANGEDSINCE" {
				return bad("Unknown STORE modifier %s", truncate(k, 20))
			}
			if err := p.SP(); err != nil {
				return err
			}
			unchangedSince, err = p.Number64()
			return err
		})
		if err != nil {
			return err
		}
		if err := p.SP(); err != nil {
			return err
		}
		v.condstore = true
		s.enabled["CONDSTORE"] = true
	}
	item, err := p.Keyword()
	if err != nil {
		return err
	}
	op := mailstore.FlagsReplace
	switch {
	case strings.HasPrefix(item, "+"):
		op = mailstore.FlagsAdd
	case strings.HasPrefix(item, "-"):
		op = mailstore.FlagsRemove
	}
	base := strings.TrimLeft(item, "+-")
	silent := strings.HasSuffix(base, ".SILENT")
	if base != "FLAGS" && base != "FLAGS.SILENT" {
		return bad("Expected FLAGS, +FLAGS or -FLAGS")
	}
	if err := p.SP(); err != nil {
		return err
	}
	names, err := p.FlagList()
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	if v.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	for _, n := range names {
		if n == `\Recent` || n == `\*` {
			return bad("Flag %s cannot be stored", n)
		}
	}
	uids, err := v.resolve(set, uidCmd)
	if err != nil {
		return err
	}
	flags, kw := mailstore.SplitFlags(names)
	changed, failed, err := s.srv.store.StoreFlags(ctx, s.acct.ID, v.mb.ID, uids, op, flags, kw, unchangedSince)
	if err != nil {
		return storeError(err)
	}
	for _, c := range changed {
		v.own[c.ModSeq] = true
	}
	if !silent {
		// Every message named gets its flags back, changed or not (RFC 9051 §6.4.6).
		skip := map[uint32]bool{}
		for _, u := range failed {
			skip[u] = true
		}
		err := s.srv.store.Messages(ctx, v.mb.ID, uids, 0, func(m *mailstore.Message) error {
			if seq := v.seqOf(m.UID); seq > 0 && !skip[m.UID] {
				s.writeFlagsFetch(seq, m.UID, m.FlagNames(), m.ModSeq, uidCmd)
			}
			return nil
		})
		if err != nil {
			return err
		}
	} else if v.condstore {
		for _, c := range changed {
			if seq := v.seqOf(c.UID); seq > 0 && unchangedSince > 0 {
				s.untagged("%d FETCH (UID %d MODSEQ (%d))", seq, c.UID, c.ModSeq)
			}
		}
	}
	if len(failed) > 0 {
		set := failed
		if !uidCmd {
			set = make([]uint32, 0, len(failed))
			for _, u := range failed {
				set = append(set, uint32(v.seqOf(u)))
			}
		}
		return &okCode{code: "MODIFIED " + imapwire.FormatSet(set), text: "Some messages were modified meanwhile"}
	}
	return nil
}

func cmdCopy(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	return s.copyOrMove(ctx, p, false)
}

func cmdMove(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	return s.copyOrMove(ctx, p, true)
}

func (s *session) copyOrMove(ctx context.Context, p *imapwire.Parser, move bool) error {
	v := s.sel
	set, err := p.SeqSet()
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	uids, err := v.resolve(set, strings.HasPrefix(s.cmd, "UID "))
	if err != nil {
		return err
	}
	if move && v.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	dst, err := s.srv.store.Mailbox(ctx, s.acct.ID, name)
	if err != nil {
		if err == mailstore.ErrNoMailbox {
			return no("TRYCREATE", "No such mailbox; create it first")
		}
		return storeError(err)
	}
	if len(uids) == 0 {
		return nil
	}
	if !move {
		if err := s.checkMessageQuota(ctx, len(uids)); err != nil {
			return err
		}
	}
	res, err := s.srv.store.Copy(ctx, s.acct.ID, v.mb.ID, dst.ID, uids, move)
	if err != nil {
		return storeError(err)
	}
	src, dstSet := imapwire.FormatPairs(res.Src, res.Dst)
	code := "COPYUID " + itoa(int64(res.UIDValidity)) + " " + src + " " + dstSet
	if !move {
		return &okCode{code: code, text: "COPY completed"}
	}
	// RFC 6851: COPYUID in an untagged OK before the expunges.
	s.untagged("OK [%s] Moved", code)
	s.reportExpunged(res.Src)
	return nil
}

// writeFlagsFetch writes "* seq FETCH (FLAGS (...) [UID n] [MODSEQ (m)])".
func (s *session) writeFlagsFetch(seq int, uid uint32, flags []string, modseq int64, withUID bool) {
	s.w.WriteString("* " + strconv.Itoa(seq) + " FETCH (FLAGS (" + strings.Join(flags, " ") + ")")
	if withUID {
		s.w.WriteString(" UID " + strconv.FormatUint(uint64(uid), 10))
	}
	if s.sel.condstore {
		s.w.WriteString(" MODSEQ (" + strconv.FormatInt(modseq, 10) + ")")
	}
	s.w.WriteString(")\r\n")
}
