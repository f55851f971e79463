package main

import (
	"encoding/base64"
	"strings"
)

// base64Lines encodes b in base64 lines of 76 characters (RFC 2045 §6.8).
func base64Lines(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76])
		out.WriteString("\r\n")
		s = s[76:]
	}
	out.WriteString(s)
	out.WriteString("\r\n")
	return out.String()
}
