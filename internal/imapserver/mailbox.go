package imapserver

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
)

func cmdCreate(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	use := ""
	if p.Consume(' ') {
		// (USE (\Sent)), RFC 6154 §3
		err := p.List(func() error {
			k, err := p.Keyword()
			if err != nil {
				return err
			}
			if k != "USE" {
				return bad("Unknown CREATE parameter %s", truncate(k, 20))
			}
			if err := p.SP(); err != nil {
				return err
			}
			return p.List(func() error {
				f, err := p.Flag()
				if use != "" {
					return no("TOOMANY", "One special use per mailbox")
				}
				use = f
				return err
			})
		})
		if err != nil {
			return err
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	name = strings.TrimSuffix(name, "/") // a trailing separator only says "will have children"
	if name == mailstore.Inbox {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	if use != "" && !slices.Contains([]string{mailstore.UseSent, mailstore.UseDrafts, mailstore.UseTrash, mailstore.UseJunk, mailstore.UseArchive}, use) {
		return no("USEATTR", "Special use %s is not supported", use)
	}
	_, err = s.srv.store.CreateMailbox(ctx, s.acct.ID, name, use)
	return storeError(err)
}

func cmdDelete(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	if s.sel != nil && s.sel.mb.Name == name {
		return no("INUSE", "Unselect the mailbox before deleting it")
	}
	return storeError(s.srv.store.DeleteMailbox(ctx, s.acct.ID, name))
}

func cmdRename(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	from, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	to, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	return storeError(s.srv.store.RenameMailbox(ctx, s.acct.ID, from, to))
}

func cmdSubscribe(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	err = s.srv.store.SetSubscribed(ctx, s.acct.ID, name, s.cmd == "SUBSCRIBE")
	if errors.Is(err, mailstore.ErrNoMailbox) && s.cmd == "UNSUBSCRIBE" {
		return nil
	}
	return storeError(err)
}

// listOptions are LIST-EXTENDED's selection and return options (RFC 5258, 6154, 5819).
type listOptions struct {
	subscribedOnly, recursiveMatch, specialUseOnly bool
	retSubscribed, retChildren, retSpecialUse      bool
	status                                         []string
}

func cmdLsub(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	return s.list(ctx, p, listOptions{subscribedOnly: true}, "LSUB")
}

func cmdList(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	var o listOptions
	if p.Peek() == '(' {
		err := p.List(func() error {
			k, err := p.Keyword()
			switch k {
			case "SUBSCRIBED":
				o.subscribedOnly, o.retSubscribed = true, true
			case "RECURSIVEMATCH":
				o.recursiveMatch = true
			case "SPECIAL-USE":
				o.specialUseOnly, o.retSpecialUse = true, true
			case "REMOTE":
			default:
				if err == nil {
					err = bad("Unknown LIST selection option %s", truncate(k, 20))
				}
			}
			return err
		})
		if err != nil {
			return err
		}
		if o.recursiveMatch && !o.subscribedOnly {
			return bad("RECURSIVEMATCH needs another selection option")
		}
		if err := p.SP(); err != nil {
			return err
		}
	}
	o.retChildren = true
	return s.list(ctx, p, o, "LIST")
}

func (s *session) list(ctx context.Context, p *imapwire.Parser, o listOptions, resp string) error {
	ref, err := p.AString()
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	var patterns []string
	if p.Peek() == '(' && resp == "LIST" {
		err = p.List(func() error {
			pat, err := p.ListMailbox()
			patterns = append(patterns, pat)
			return err
		})
	} else {
		var pat string
		pat, err = p.ListMailbox()
		patterns = append(patterns, pat)
	}
	if err != nil {
		return err
	}
	if p.Consume(' ') {
		kw, err := p.Keyword()
		if err != nil || kw != "RETURN" || resp != "LIST" {
			return bad("Expected RETURN options")
		}
		if err := p.SP(); err != nil {
			return err
		}
		err = p.List(func() error {
			k, err := p.Keyword()
			if err != nil {
				return err
			}
			switch k {
			case "SUBSCRIBED":
				o.retSubscribed = true
			case "CHILDREN":
				o.retChildren = true
			case "SPECIAL-USE":
				o.retSpecialUse = true
			case "STATUS":
				if err := p.SP(); err != nil {
					return err
				}
				o.status, err = statusItems(p)
				return err
			default:
				return bad("Unknown LIST return option %s", truncate(k, 20))
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
	if len(patterns) == 1 && patterns[0] == "" && resp == "LIST" {
		// The hierarchy delimiter and root (RFC 9051 §6.3.9).
		s.untagged(`LIST (\Noselect) "/" ""`)
		return nil
	}
	mbs, err := s.srv.store.Mailboxes(ctx, s.acct.ID)
	if err != nil {
		return err
	}
	names := map[string]*mailstore.Mailbox{}
	for _, mb := range mbs {
		names[mb.Name] = mb
	}
	var res []*regexp.Regexp
	for _, pat := range patterns {
		res = append(res, listPattern(s.decodeName(ref)+s.decodeName(pat)))
	}
	for _, mb := range mbs {
		matched := false
		for _, re := range res {
			matched = matched || re.MatchString(mb.Name)
		}
		childSubscribed := false
		if o.recursiveMatch {
			for _, c := range mbs {
				if strings.HasPrefix(c.Name, mb.Name+"/") && c.Subscribed {
					childSubscribed = true
				}
			}
		}
		if !matched || (o.subscribedOnly && !mb.Subscribed && !childSubscribed) || (o.specialUseOnly && mb.SpecialUse == "") {
			continue
		}
		var attrs []string
		if mb.NoSelect {
			attrs = append(attrs, `\Noselect`)
		}
		if o.retChildren || resp == "LSUB" {
			hasChildren := false
			for _, c := range mbs {
				if strings.HasPrefix(c.Name, mb.Name+"/") {
					hasChildren = true
					break
				}
			}
			if hasChildren {
				attrs = append(attrs, `\HasChildren`)
			} else if resp == "LIST" {
				attrs = append(attrs, `\HasNoChildren`)
			}
		}
		if o.retSubscribed && mb.Subscribed && resp == "LIST" {
			attrs = append(attrs, `\Subscribed`)
		}
		if mb.SpecialUse != "" && (o.retSpecialUse || resp == "LIST") {
			attrs = append(attrs, mb.SpecialUse)
		}
		s.w.WriteString("* " + resp + " (" + strings.Join(attrs, " ") + ") \"/\" ")
		s.writeName(mb.Name)
		if childSubscribed && o.recursiveMatch && !mb.Subscribed {
			s.w.WriteString(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		s.w.WriteString("\r\n")
		if len(o.status) > 0 && !mb.NoSelect {
			if err := s.status(ctx, mb, o.status); err != nil {
				return err
			}
		}
	}
	return nil
}

// listPattern compiles a LIST pattern: "*" matches anything, "%" anything but the separator.
func listPattern(pat string) *regexp.Regexp {
	if len(pat) >= 5 && strings.EqualFold(pat[:5], mailstore.Inbox) {
		pat = mailstore.Inbox + pat[5:]
	}
	var b strings.Builder
	b.WriteString("^")
	for _, part := range strings.Split(pat, "") {
		switch part {
		case "*":
			b.WriteString(".*")
		case "%":
			b.WriteString("[^/]*")
		default:
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func statusItems(p *imapwire.Parser) ([]string, error) {
	var items []string
	err := p.List(func() error {
		k, err := p.Keyword()
		switch k {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT":
			items = append(items, k)
		default:
			if err == nil {
				err = bad("Unknown STATUS item %s", truncate(k, 20))
			}
		}
		return err
	})
	if err == nil && len(items) == 0 {
		err = bad("STATUS needs at least one item")
	}
	return items, err
}

func cmdStatus(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	items, err := statusItems(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	mb, err := s.srv.store.Mailbox(ctx, s.acct.ID, name)
	if err != nil {
		return storeError(err)
	}
	return s.status(ctx, mb, items)
}

func (s *session) status(ctx context.Context, mb *mailstore.Mailbox, items []string) error {
	var parts []string
	for _, it := range items {
		var n int64
		switch it {
		case "MESSAGES":
			n = mb.Messages
		case "UIDNEXT":
			n = int64(mb.UIDNext)
		case "UIDVALIDITY":
			n = int64(mb.UIDValidity)
		case "UNSEEN":
			n = mb.Unseen
		case "SIZE":
			n = mb.Size
		case "RECENT":
			n = 0
		case "HIGHESTMODSEQ":
			n = mb.HighestModSeq
		case "APPENDLIMIT":
			n = s.appendLimit()
		case "DELETED":
			rows, err := s.srv.store.SearchRows(ctx, mb.ID)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if r.Flags&mailstore.FlagDeleted != 0 {
					n++
				}
			}
		}
		parts = append(parts, it+" "+itoa(n))
	}
	s.w.WriteString("* STATUS ")
	s.writeName(mb.Name)
	s.w.WriteString(" (" + strings.Join(parts, " ") + ")\r\n")
	return nil
}

func cmdAppend(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	type msg struct {
		flags mailstore.Flags
		kw    []string
		date  time.Time
		raw   []byte
	}
	var msgs []msg
	for p.Consume(' ') {
		var m msg
		if p.Peek() == '(' {
			names, err := p.FlagList()
			if err != nil {
				return err
			}
			m.flags, m.kw = mailstore.SplitFlags(names)
			if err := p.SP(); err != nil {
				return err
			}
		}
		m.date = time.Now()
		if p.Peek() == '"' {
			if m.date, err = p.DateTime(); err != nil {
				return err
			}
			if err := p.SP(); err != nil {
				return err
			}
		}
		utf8 := false
		if p.Peek() == 'U' || p.Peek() == 'u' {
			k, err := p.Keyword()
			if err != nil || k != "UTF8" {
				return bad("Expected a message literal")
			}
			if err := p.SP(); err != nil {
				return err
			}
			if err := p.Expect('('); err != nil {
				return err
			}
			utf8 = true
		}
		if m.raw, _, err = p.StringBytes(); err != nil {
			return err
		}
		if utf8 {
			if err := p.Expect(')'); err != nil {
				return err
			}
		}
		if int64(len(m.raw)) > s.appendLimit() {
			return no("TOOBIG", "Message of %d octets exceeds the limit of %d", len(m.raw), s.appendLimit())
		}
		msgs = append(msgs, m)
	}
	if err := p.End(); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return bad("APPEND needs a message")
	}
	mb, err := s.srv.store.Mailbox(ctx, s.acct.ID, name)
	if err != nil {
		if errors.Is(err, mailstore.ErrNoMailbox) {
			return no("TRYCREATE", "No such mailbox; create it first")
		}
		return storeError(err)
	}
	if err := s.checkMessageQuota(ctx, len(msgs)); err != nil {
		return err
	}
	batch := make([]mailstore.AppendMessage, len(msgs))
	for i, m := range msgs {
		batch[i] = mailstore.AppendMessage{Raw: m.raw, Flags: m.flags, Keywords: m.kw, Date: m.date}
	}
	res, err := s.srv.store.AppendMany(ctx, s.acct.ID, mb.ID, batch)
	if err != nil {
		return storeError(err)
	}
	var uids []uint32
	var validity uint32
	var failed error
	for _, r := range res {
		if r.Err != nil {
			failed = r.Err
			continue
		}
		uids = append(uids, r.UID)
		validity = r.UIDValidity
	}
	if failed != nil {
		// MULTIAPPEND is all or nothing (RFC 3502): take back what went in.
		if len(uids) > 0 {
			if _, derr := s.srv.store.Delete(ctx, s.acct.ID, mb.ID, uids); derr != nil {
				s.log.Error("imap: undo partial MULTIAPPEND", "err", derr)
			}
		}
		return storeError(failed)
	}
	return &okCode{code: "APPENDUID " + itoa(int64(validity)) + " " + imapwire.FormatSet(uids), text: "APPEND completed"}
}

func cmdGetQuotaRoot(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	name, err := s.mailboxName(p)
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	if _, err := s.srv.store.Mailbox(ctx, s.acct.ID, name); err != nil {
		return storeError(err)
	}
	s.w.WriteString("* QUOTAROOT ")
	s.writeName(name)
	s.w.WriteString(" \"\"\r\n")
	return s.quota(ctx)
}

func cmdGetQuota(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	root, err := p.AString()
	if err != nil {
		return err
	}
	if err := p.End(); err != nil {
		return err
	}
	if root != "" {
		return no("NONEXISTENT", "No such quota root; the account's root is \"\"")
	}
	return s.quota(ctx)
}

// quota reports the class of service's quota: STORAGE in KiB (RFC 9208 §5.1) and MESSAGE.
func (s *session) quota(ctx context.Context) error {
	q, err := s.srv.store.Quota(ctx, s.acct.ID)
	if err != nil {
		return storeError(err)
	}
	if q.LimitMessages > 0 {
		s.untagged(`QUOTA "" (STORAGE %d %d MESSAGE %d %d)`, (q.UsedBytes+1023)/1024, q.LimitBytes/1024, q.Messages, q.LimitMessages)
		return nil
	}
	s.untagged(`QUOTA "" (STORAGE %d %d)`, (q.UsedBytes+1023)/1024, q.LimitBytes/1024)
	return nil
}

func cmdSetQuota(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	return no("NOPERM", "Quotas are set by the class of service; ask your administrator")
}
