package imapwire

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrBadUTF7 is returned for a mailbox name that is not valid modified UTF-7.
var ErrBadUTF7 = errors.New("imapwire: invalid modified UTF-7 mailbox name")

var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// EncodeMailbox encodes a UTF-8 mailbox name in modified UTF-7 (RFC 3501 §5.1.3).
func EncodeMailbox(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		j := i
		var units []uint16
		for j < len(s) && (s[j] < 0x20 || s[j] > 0x7e) {
			r, size := utf8.DecodeRuneInString(s[j:])
			units = append(units, utf16.Encode([]rune{r})...)
			j += size
		}
		buf := make([]byte, 0, 2*len(units))
		for _, u := range units {
			buf = append(buf, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(b64.EncodeToString(buf))
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

// DecodeMailbox decodes a modified UTF-7 mailbox name to UTF-8.
func DecodeMailbox(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", ErrBadUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", ErrBadUTF7
		}
		enc := s[i+1 : i+1+end]
		i += end + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		raw, err := b64.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", ErrBadUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		runes := utf16.Decode(units)
		for _, r := range runes {
			if r == utf8.RuneError || (r >= 0x20 && r <= 0x7e) {
				// printable ASCII must not be encoded (RFC 3501 §5.1.3)
				return "", ErrBadUTF7
			}
		}
		b.WriteString(string(runes))
	}
	return b.String(), nil
}
