package message

import (
	"encoding/binary"
	"errors"
)

// ErrBadEnvelope is returned by UnmarshalBinary for data AppendBinary did not write.
var ErrBadEnvelope = errors.New("message: malformed envelope encoding")

// envelopeVersion leads the encoding so that it can change.
const envelopeVersion = 1

// AppendBinary appends a compact encoding of e: length-prefixed strings and address lists.
// The mailstore keeps it beside each message so that listing many envelopes (an IMAP client's
// first sync) costs a few hundred nanoseconds per message instead of a JSON decode.
func (e *Envelope) AppendBinary(b []byte) []byte {
	b = append(b, envelopeVersion)
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	list := func(as []Address) {
		b = binary.AppendUvarint(b, uint64(len(as)))
		for _, a := range as {
			str(a.Name)
			str(a.Mailbox)
			str(a.Host)
		}
	}
	str(e.Date)
	str(e.Subject)
	for _, l := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		list(l)
	}
	str(e.InReplyTo)
	str(e.MessageID)
	return b
}

// UnmarshalBinary decodes what AppendBinary wrote.
func (e *Envelope) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != envelopeVersion {
		return ErrBadEnvelope
	}
	b = b[1:]
	bad := false
	str := func() string {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			bad = true
			b = nil
			return ""
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s
	}
	list := func() []Address {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			bad = true
			b = nil
			return nil
		}
		b = b[k:]
		if n == 0 {
			return nil
		}
		as := make([]Address, n)
		for i := range as {
			as[i] = Address{Name: str(), Mailbox: str(), Host: str()}
		}
		return as
	}
	*e = Envelope{Date: str(), Subject: str()}
	e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc = list(), list(), list(), list(), list(), list()
	e.InReplyTo, e.MessageID = str(), str()
	if bad || len(b) != 0 {
		return ErrBadEnvelope
	}
	return nil
}
