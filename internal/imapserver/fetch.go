package imapserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/imapwire"
	"github.com/postamail/posta/internal/mailstore"
	"github.com/postamail/posta/internal/message"
)

func cmdFetch(ctx context.Context, s *session, tag string, p *imapwire.Parser) error {
	v := s.sel
	uidCmd := s.cmd == "UID FETCH"
	set, err := p.SeqSet()
	if err != nil {
		return err
	}
	if err := p.SP(); err != nil {
		return err
	}
	items, err := p.FetchItems()
	if err != nil {
		return err
	}
	var changedSince int64 = -1
	vanished := false
	if p.Consume(' ') {
		err := p.List(func() error {
			k, err := p.Keyword()
			if err != nil {
				return err
			}
			switch k {
			case "CHANGEDSINCE":
				if err := p.SP(); err != nil {
					return err
				}
				changedSince, err = p.Number64()
				return err
			case "VANISHED":
				vanished = true
			default:
				return bad("Unknown FETCH modifier %s", truncate(k, 20))
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
	if vanished && (!uidCmd || changedSince < 0 || !s.enabled["QRESYNC"]) {
		return bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC")
	}
	if changedSince >= 0 {
		v.condstore = true
		s.enabled["CONDSTORE"] = true
	}
	uids, err := v.resolve(set, uidCmd)
	if err != nil {
		return err
	}
	if vanished {
		if err := s.changedSince(ctx, changedSince, &set, false); err != nil {
			return err
		}
	}
	if len(uids) == 0 {
		return nil
	}
	f := fetchPlan{uid: uidCmd, modseq: v.condstore || changedSince >= 0}
	for i := range items {
		it := &items[i]
		switch it.Name {
		case "UID":
			f.uid = true
			continue
		case "MODSEQ":
			f.modseq = true
			v.condstore = true
			continue
		case "ENVELOPE":
			f.fields |= mailstore.WithEnvelope
		case "BODYSTRUCTURE", "BODY", "PREVIEW":
			f.fields |= mailstore.WithMeta
		case "RFC822.HEADER":
			f.fields |= mailstore.WithHeader
		case "BODY[]", "BINARY[]", "BINARY.SIZE[]":
			topHeader := len(it.Section.Path) == 0 && strings.HasPrefix(it.Section.Specifier, "HEADER")
			switch {
			case topHeader:
				f.fields |= mailstore.WithHeader // from the stored header block, no body read
			case len(it.Section.Path) > 0 || it.Section.Specifier != "" || it.Name != "BODY[]":
				f.fields |= mailstore.WithMeta | mailstore.WithBlobKey
			default:
				f.fields |= mailstore.WithBlobKey
			}
		case "RFC822":
			f.fields |= mailstore.WithBlobKey
		case "RFC822.TEXT":
			f.fields |= mailstore.WithMeta | mailstore.WithBlobKey
		}
		if it.SetsSeen() && !v.readOnly {
			f.setSeen = true
		}
		f.items = append(f.items, it)
	}
	// Setting \Seen first means the FLAGS read below already carry it; the client is told.
	seenSet := map[uint32]bool{}
	if f.setSeen && len(uids) > 0 {
		changed, _, err := s.srv.store.StoreFlags(ctx, s.acct.ID, v.mb.ID, uids, mailstore.FlagsAdd, mailstore.FlagSeen, nil, 0)
		if err != nil {
			return storeError(err)
		}
		for _, c := range changed {
			v.own[c.ModSeq] = true
			seenSet[c.UID] = true
		}
	}
	wantFlags := false
	for _, it := range f.items {
		wantFlags = wantFlags || it.Name == "FLAGS"
	}
	var blobErr error
	err = s.srv.store.Messages(ctx, v.mb.ID, uids, f.fields, func(m *mailstore.Message) error {
		if changedSince >= 0 && m.ModSeq <= changedSince {
			return nil
		}
		seq := v.seqOf(m.UID)
		if seq == 0 {
			return nil
		}
		w := s.w
		w.WriteString("* " + strconv.Itoa(seq) + " FETCH (")
		sep := false
		space := func() {
			if sep {
				w.WriteByte(' ')
			}
			sep = true
		}
		if f.uid {
			space()
			w.WriteString("UID " + strconv.FormatUint(uint64(m.UID), 10))
		}
		if seenSet[m.UID] && !wantFlags {
			space()
			w.WriteString("FLAGS (" + strings.Join(m.FlagNames(), " ") + ")")
		}
		var body io.ReadSeekCloser
		defer func() {
			if body != nil {
				body.Close()
			}
		}()
		for _, it := range f.items {
			space()
			if err := s.fetchItem(ctx, m, it, &body); err != nil {
				if errors.Is(err, errUnknownCTE) {
					blobErr = err
					w.WriteString("NIL")
					continue
				}
				return err
			}
		}
		if f.modseq {
			space()
			w.WriteString("MODSEQ (" + strconv.FormatInt(m.ModSeq, 10) + ")")
		}
		w.WriteString(")\r\n")
		return nil
	})
	if err != nil {
		return err
	}
	if blobErr != nil {
		return no("UNKNOWN-CTE", "A part has a content transfer encoding the server cannot decode")
	}
	return nil
}

var errUnknownCTE = errors.New("unknown content transfer encoding")

type fetchPlan struct {
	uid, modseq, setSeen bool
	fields               mailstore.Fields
	items                []*imapwire.FetchItem
}

func (s *session) fetchItem(ctx context.Context, m *mailstore.Message, it *imapwire.FetchItem, body *io.ReadSeekCloser) error {
	w := s.w
	switch it.Name {
	case "FLAGS":
		w.WriteString("FLAGS (" + strings.Join(m.FlagNames(), " ") + ")")
	case "INTERNALDATE":
		w.WriteString(`INTERNALDATE "` + imapwire.FormatDateTime(m.InternalDate) + `"`)
	case "RFC822.SIZE":
		w.WriteString("RFC822.SIZE " + strconv.FormatInt(m.Size, 10))
	case "ENVELOPE":
		w.WriteString("ENVELOPE ")
		writeEnvelope(w, m.Envelope)
	case "BODYSTRUCTURE", "BODY":
		w.WriteString(it.Name + " ")
		writeBodyStructure(w, m.Parsed.Body, it.Name == "BODYSTRUCTURE")
	case "PREVIEW":
		w.WriteString("PREVIEW ")
		w.NStr(m.Parsed.Preview)
	case "SAVEDATE", "EMAILID", "THREADID":
		w.WriteString(it.Name + " NIL")
	case "RFC822.HEADER":
		w.WriteString("RFC822.HEADER ")
		w.Literal(m.Header)
	case "RFC822", "RFC822.TEXT":
		start, end := int64(0), m.Size
		if it.Name == "RFC822.TEXT" {
			start = m.Parsed.Body.BodyStart
		}
		w.WriteString(it.Name + " ")
		return s.writeRange(ctx, m, body, start, end, nil)
	case "BODY[]":
		w.WriteString(it.ResponseName() + " ")
		return s.writeSection(ctx, m, it, body)
	case "BINARY[]", "BINARY.SIZE[]":
		data, err := s.decodedPart(ctx, m, it.Section.Path, body)
		if err != nil {
			return err
		}
		if it.Name == "BINARY.SIZE[]" {
			w.WriteString(it.ResponseName() + " " + strconv.Itoa(len(data)))
			return nil
		}
		w.WriteString(it.ResponseName() + " ")
		if it.Partial != nil {
			data = cut(data, it.Partial)
		}
		if bytes.IndexByte(data, 0) >= 0 {
			return w.LiteralFrom(bytes.NewReader(data), int64(len(data)), true)
		}
		w.Literal(data)
	}
	return nil
}

func cut(data []byte, p *imapwire.Partial) []byte {
	if p.Offset >= int64(len(data)) {
		return nil
	}
	data = data[p.Offset:]
	if p.Count < int64(len(data)) {
		data = data[:p.Count]
	}
	return data
}

// writeSection writes BODY[section]<partial>: header pieces from the stored header or the
// parsed offsets, content streamed from the blob.
func (s *session) writeSection(ctx context.Context, m *mailstore.Message, it *imapwire.FetchItem, body *io.ReadSeekCloser) error {
	sec := it.Section
	if len(sec.Path) == 0 {
		switch sec.Specifier {
		case "":
			return s.writeRange(ctx, m, body, 0, m.Size, it.Partial)
		case "HEADER":
			s.writeBytes(m.Header, it.Partial)
			return nil
		case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
			s.writeBytes(message.HeaderFields(m.Header, sec.Fields, sec.Specifier == "HEADER.FIELDS.NOT"), it.Partial)
			return nil
		case "TEXT":
			return s.writeRange(ctx, m, body, m.Parsed.Body.BodyStart, m.Size, it.Partial)
		}
	}
	part, ok := m.Parsed.Section(sec.Path)
	if !ok {
		s.w.WriteString(`""`)
		return nil
	}
	switch sec.Specifier {
	case "":
		return s.writeRange(ctx, m, body, part.BodyStart, part.End, it.Partial)
	case "MIME":
		return s.writeRange(ctx, m, body, part.HeaderStart, part.BodyStart, it.Partial)
	}
	// HEADER, HEADER.FIELDS, TEXT of an encapsulated message.
	if !part.IsMessage() {
		s.w.WriteString(`""`)
		return nil
	}
	inner := part.Parts[0]
	if sec.Specifier == "TEXT" {
		return s.writeRange(ctx, m, body, inner.BodyStart, inner.End, it.Partial)
	}
	hdr, err := s.readRange(ctx, m, body, inner.HeaderStart, inner.BodyStart)
	if err != nil {
		return err
	}
	if sec.Specifier != "HEADER" {
		hdr = message.HeaderFields(hdr, sec.Fields, sec.Specifier == "HEADER.FIELDS.NOT")
	}
	s.writeBytes(hdr, it.Partial)
	return nil
}

func (s *session) writeBytes(b []byte, p *imapwire.Partial) {
	if p != nil {
		b = cut(b, p)
	}
	s.w.Literal(b)
}

func (s *session) open(ctx context.Context, m *mailstore.Message, body *io.ReadSeekCloser) error {
	if *body != nil {
		return nil
	}
	b, err := s.srv.store.OpenBody(ctx, m.BlobKey)
	if err != nil {
		return fmt.Errorf("imap: open message %d: %w", m.UID, err)
	}
	*body = b
	return nil
}

// writeRange streams [start, end) of the message (cut by partial) as a literal.
func (s *session) writeRange(ctx context.Context, m *mailstore.Message, body *io.ReadSeekCloser, start, end int64, p *imapwire.Partial) error {
	if p != nil {
		start += p.Offset
		if start > end {
			start = end
		}
		if start+p.Count < end {
			end = start + p.Count
		}
	}
	if err := s.open(ctx, m, body); err != nil {
		return err
	}
	if _, err := (*body).Seek(start, io.SeekStart); err != nil {
		return err
	}
	return s.w.LiteralFrom(*body, end-start, false)
}

func (s *session) readRange(ctx context.Context, m *mailstore.Message, body *io.ReadSeekCloser, start, end int64) ([]byte, error) {
	if err := s.open(ctx, m, body); err != nil {
		return nil, err
	}
	if _, err := (*body).Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	buf := make([]byte, end-start)
	_, err := io.ReadFull(*body, buf)
	return buf, err
}

// decodedPart returns a part's content with its transfer encoding undone (RFC 3516).
func (s *session) decodedPart(ctx context.Context, m *mailstore.Message, path []int, body *io.ReadSeekCloser) ([]byte, error) {
	var part *message.Part
	if len(path) == 0 {
		part = m.Parsed.Body
	} else {
		var ok bool
		if part, ok = m.Parsed.Section(path); !ok {
			return nil, nil
		}
	}
	raw, err := s.readRange(ctx, m, body, part.BodyStart, part.End)
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(part.Encoding) {
	case "", "7BIT", "8BIT", "BINARY":
		return raw, nil
	case "BASE64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, raw)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			// Tolerate missing padding and trailing garbage as mail clients do.
			n2, _ := base64.RawStdEncoding.Decode(out, bytes.TrimRight(clean, "="))
			n = max(n, n2)
		}
		return out[:n], nil
	case "QUOTED-PRINTABLE":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	}
	return nil, errUnknownCTE
}

// writeEnvelope writes an ENVELOPE (RFC 9051 §7.5.2).
func writeEnvelope(w *imapwire.Writer, e *message.Envelope) {
	w.WriteByte('(')
	w.NStr(e.Date)
	w.WriteByte(' ')
	w.NStr(e.Subject)
	from := e.From
	sender, replyTo := e.Sender, e.ReplyTo
	if len(sender) == 0 {
		sender = from
	}
	if len(replyTo) == 0 {
		replyTo = from
	}
	for _, l := range [][]message.Address{from, sender, replyTo, e.To, e.Cc, e.Bcc} {
		w.WriteByte(' ')
		writeAddresses(w, l)
	}
	w.WriteByte(' ')
	w.NStr(e.InReplyTo)
	w.WriteByte(' ')
	w.NStr(e.MessageID)
	w.WriteByte(')')
}

func writeAddresses(w *imapwire.Writer, list []message.Address) {
	if len(list) == 0 {
		w.WriteString("NIL")
		return
	}
	w.WriteByte('(')
	for _, a := range list {
		w.WriteByte('(')
		w.NStr(a.Name)
		w.WriteString(" NIL ")
		w.NStr(a.Mailbox)
		w.WriteByte(' ')
		if a.Host == "" && a.Mailbox != "" {
			w.WriteString("NIL") // start of a group
		} else {
			w.NStr(a.Host)
		}
		w.WriteByte(')')
	}
	w.WriteByte(')')
}

// writeBodyStructure writes BODY or, with ext, BODYSTRUCTURE (RFC 9051 §7.5.2).
func writeBodyStructure(w *imapwire.Writer, p *message.Part, ext bool) {
	w.WriteByte('(')
	if p.IsMultipart() && len(p.Parts) > 0 {
		for _, c := range p.Parts {
			writeBodyStructure(w, c, ext)
		}
		w.WriteByte(' ')
		w.Str(strings.ToUpper(p.Subtype))
		if ext {
			w.WriteByte(' ')
			writeParams(w, p.Params)
			writeExtension(w, p)
		}
		w.WriteByte(')')
		return
	}
	typ, sub := p.Type, p.Subtype
	if p.IsMultipart() {
		// An empty multipart is shown as text/plain, as other servers do.
		typ, sub = "text", "plain"
	}
	w.Str(strings.ToUpper(typ))
	w.WriteByte(' ')
	w.Str(strings.ToUpper(sub))
	w.WriteByte(' ')
	params := p.Params
	if strings.EqualFold(typ, "text") && p.Param("charset") == "" {
		params = append([][2]string{{"charset", "us-ascii"}}, params...) // RFC 2045 §5.2
	}
	writeParams(w, params)
	w.WriteByte(' ')
	w.NStr(p.ID)
	w.WriteByte(' ')
	w.NStr(p.Description)
	w.WriteByte(' ')
	enc := p.Encoding
	if enc == "" {
		enc = "7BIT"
	}
	w.Str(strings.ToUpper(enc))
	w.WriteString(" " + strconv.FormatInt(p.Size(), 10))
	switch {
	case p.IsMessage():
		inner := p.Parts[0]
		env := inner.Envelope
		if env == nil {
			env = &message.Envelope{}
		}
		w.WriteByte(' ')
		writeEnvelope(w, env)
		w.WriteByte(' ')
		writeBodyStructure(w, inner, ext)
		w.WriteString(" " + strconv.FormatInt(p.Lines, 10))
	case strings.EqualFold(typ, "text"):
		w.WriteString(" " + strconv.FormatInt(p.Lines, 10))
	}
	if ext {
		w.WriteByte(' ')
		w.NStr(p.MD5)
		writeExtension(w, p)
	}
	w.WriteByte(')')
}

// writeExtension writes body-fld-dsp, body-fld-lang and body-fld-loc.
func writeExtension(w *imapwire.Writer, p *message.Part) {
	w.WriteByte(' ')
	if p.Disposition == "" {
		w.WriteString("NIL")
	} else {
		w.WriteByte('(')
		w.Str(strings.ToUpper(p.Disposition))
		w.WriteByte(' ')
		writeParams(w, p.DispositionParams)
		w.WriteByte(')')
	}
	w.WriteByte(' ')
	switch len(p.Language) {
	case 0:
		w.WriteString("NIL")
	case 1:
		w.Str(p.Language[0])
	default:
		w.WriteByte('(')
		for i, l := range p.Language {
			if i > 0 {
				w.WriteByte(' ')
			}
			w.Str(l)
		}
		w.WriteByte(')')
	}
	w.WriteByte(' ')
	w.NStr(p.Location)
}

func writeParams(w *imapwire.Writer, params [][2]string) {
	if len(params) == 0 {
		w.WriteString("NIL")
		return
	}
	w.WriteByte('(')
	for i, kv := range params {
		if i > 0 {
			w.WriteByte(' ')
		}
		w.Str(strings.ToUpper(kv[0]))
		w.WriteByte(' ')
		w.Str(kv[1])
	}
	w.WriteByte(')')
}
