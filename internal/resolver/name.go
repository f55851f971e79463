package resolver

import (
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// normalizeName returns name as a lower-case fully qualified name in
// A-labels. Labels in Unicode (U-labels) are converted with IDNA 2008
// (UTS #46 lookup profile); A-labels ("xn--") must decode. Besides letters,
// digits and hyphens, labels may hold "_" (service names such as _dmarc) and
// the other printable characters an e-mail local part can bring into a
// name through SPF macros; spaces, control characters, backslashes, dots
// within labels and empty labels are refused, as are labels over 63 octets
// and names over 253.
func normalizeName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "", fmt.Errorf("empty name: %w", ErrInvalidName)
	}
	labels := strings.Split(name, ".")
	for i, l := range labels {
		if l == "" {
			return "", fmt.Errorf("empty label: %w", ErrInvalidName)
		}
		if !isASCII(l) {
			a, err := idna.Lookup.ToASCII(l)
			if err != nil {
				return "", fmt.Errorf("label %q: %v: %w", l, err, ErrInvalidName)
			}
			l = a
		} else if len(l) >= 4 && strings.EqualFold(l[:4], "xn--") {
			// A valid A-label decodes to a U-label that encodes back to it.
			u, err := idna.Lookup.ToUnicode(l)
			if err == nil {
				var a string
				if a, err = idna.Lookup.ToASCII(u); err == nil && (isASCII(u) || !strings.EqualFold(a, l)) {
					err = fmt.Errorf("not the A-label of a U-label")
				}
			}
			if err != nil {
				return "", fmt.Errorf("label %q: %v: %w", l, err, ErrInvalidName)
			}
		}
		if len(l) > 63 {
			return "", fmt.Errorf("label %q longer than 63 octets: %w", l, ErrInvalidName)
		}
		for j := 0; j < len(l); j++ {
			if !labelChar(l[j]) {
				return "", fmt.Errorf("label %q: character %q: %w", l, l[j], ErrInvalidName)
			}
		}
		labels[i] = strings.ToLower(l)
	}
	name = strings.Join(labels, ".")
	if len(name) > 253 {
		return "", fmt.Errorf("name longer than 253 octets: %w", ErrInvalidName)
	}
	return name + ".", nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// labelChar reports whether c may appear in a label: letters, digits, "-",
// "_" and the other atext characters of RFC 5322 except "." (which
// separates labels).
func labelChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_!#$%&'*+/=?^`{|}~", c) >= 0
}
