package pop3d

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gocourier/courier/pkg/authsasl"
)

// capa is the answer to CAPA (RFC 2449), as the original's pop3dcapa
// writes it: SASL from POP3AUTH_TLS under TLS (else POP3AUTH), limited to
// the mechanisms authsasl runs; STLS while it is possible.
func capa(getenv func(string) string, tls, stls bool) string {
	var b strings.Builder
	b.WriteString("+OK Here's what I can do:\r\n")
	list := getenv("POP3AUTH")
	if v := getenv("POP3AUTH_TLS"); tls && strings.TrimSpace(v) != "" {
		list = v
	}
	var mechs []string
	for _, m := range strings.Fields(strings.ToUpper(list)) {
		if slices.Contains(authsasl.Mechanisms, m) {
			mechs = append(mechs, m)
		}
	}
	if len(mechs) > 0 {
		b.WriteString("SASL " + strings.Join(mechs, " ") + "\r\n")
	}
	if stls {
		b.WriteString("STLS\r\n")
	}
	b.WriteString("TOP\r\nUSER\r\nLOGIN-DELAY 10\r\nPIPELINING\r\nUIDL\r\nUTF8 USER\r\nIMPLEMENTATION Courier Mail Server\r\n.\r\n")
	return b.String()
}

// envInt is the original's atoi(getenv(name)): the leading number of the
// value, 0 when there is none.
func envInt(getenv func(string) string, name string) int {
	v := strings.TrimSpace(getenv(name))
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || i == 0 && v[i] == '-') {
		i++
	}
	n, _ := strconv.Atoi(v[:i])
	return n
}
