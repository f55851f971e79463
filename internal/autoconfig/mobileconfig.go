package autoconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
)

// MobileConfigType is the media type of Apple configuration profiles.
const MobileConfigType = "application/x-apple-aspen-config"

// MobileConfig returns an Apple configuration profile (unsigned) that sets up the mail account
// of address on iOS, iPadOS and macOS: IMAP (or POP3 when IMAP is not offered) and SMTP
// submission with password authentication over TLS. The profile holds no password: the device
// asks for it. Its identifiers derive from the host name and the address, so downloading it
// again replaces the installed profile instead of adding a second one.
func (s Settings) MobileConfig(address, displayName string) ([]byte, error) {
	in, ok := first(s.Incoming(), "imap")
	accountType := "EmailTypeIMAP"
	if !ok {
		if in, ok = first(s.Incoming(), "pop3"); !ok {
			return nil, fmt.Errorf("autoconfig: neither IMAP nor POP3 is offered")
		}
		accountType = "EmailTypePOP"
	}
	out, ok := first(s.Outgoing(), "smtp")
	if !ok {
		return nil, fmt.Errorf("autoconfig: mail submission is not offered")
	}
	reverse := strings.Split(s.Hostname, ".")
	slices.Reverse(reverse)
	base := strings.Join(reverse, ".") + ".posta"
	name := displayName
	if name == "" {
		name = address
	}
	mail := plistDict{
		{"EmailAccountDescription", address},
		{"EmailAccountName", name},
		{"EmailAccountType", accountType},
		{"EmailAddress", address},
		{"IncomingMailServerAuthentication", "EmailAuthPassword"},
		{"IncomingMailServerHostName", s.Hostname},
		{"IncomingMailServerPortNumber", in.Port},
		{"IncomingMailServerUseSSL", true},
		{"IncomingMailServerUsername", address},
		{"OutgoingMailServerAuthentication", "EmailAuthPassword"},
		{"OutgoingMailServerHostName", s.Hostname},
		{"OutgoingMailServerPortNumber", out.Port},
		{"OutgoingMailServerUseSSL", true},
		{"OutgoingMailServerUsername", address},
		{"OutgoingPasswordSameAsIncomingPassword", true},
		{"PayloadDescription", "Mail account " + address},
		{"PayloadDisplayName", address},
		{"PayloadIdentifier", base + ".mail." + uuidFor(s.Hostname, address, "mail")},
		{"PayloadType", "com.apple.mail.managed"},
		{"PayloadUUID", uuidFor(s.Hostname, address, "mail")},
		{"PayloadVersion", 1},
		{"PreventAppSheet", false},
		{"PreventMove", false},
		{"SMIMEEnabled", false},
	}
	profile := plistDict{
		{"PayloadContent", []any{mail}},
		{"PayloadDescription", "Sets up " + address + " on " + s.Hostname},
		{"PayloadDisplayName", address + " (" + s.Hostname + ")"},
		{"PayloadIdentifier", base + ".profile." + uuidFor(s.Hostname, address, "profile")},
		{"PayloadOrganization", s.Hostname},
		{"PayloadRemovalDisallowed", false},
		{"PayloadType", "Configuration"},
		{"PayloadUUID", uuidFor(s.Hostname, address, "profile")},
		{"PayloadVersion", 1},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n")
	writePlist(&b, profile, 0)
	b.WriteString("</plist>\n")
	return b.Bytes(), nil
}

// uuidFor derives a stable UUID (version 5 layout) from the parts.
func uuidFor(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := strings.ToUpper(hex.EncodeToString(u))
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// plistDict is an ordered property-list dictionary.
type plistDict []struct {
	k string
	v any
}

func writePlist(b *bytes.Buffer, v any, depth int) {
	ind := strings.Repeat("\t", depth)
	esc := func(s string) string {
		var e bytes.Buffer
		xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	switch x := v.(type) {
	case plistDict:
		b.WriteString(ind + "<dict>\n")
		for _, kv := range x {
			b.WriteString(ind + "\t<key>" + esc(kv.k) + "</key>\n")
			writePlist(b, kv.v, depth+1)
		}
		b.WriteString(ind + "</dict>\n")
	case []any:
		b.WriteString(ind + "<array>\n")
		for _, e := range x {
			writePlist(b, e, depth+1)
		}
		b.WriteString(ind + "</array>\n")
	case string:
		b.WriteString(ind + "<string>" + esc(x) + "</string>\n")
	case int:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", ind, x)
	case bool:
		if x {
			b.WriteString(ind + "<true/>\n")
		} else {
			b.WriteString(ind + "<false/>\n")
		}
	}
}
