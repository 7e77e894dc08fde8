package esmtp

import (
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	rs, err := ParseRoutes("esmtproutes", []byte("# routes\nexample.com: mail.example.net,2525\n.example.org: [192.0.2.1] /SECURITY=STARTTLS\nsecure.test: relay.test,465 /SECURITY=SMTPS\n: smarthost.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		domain, relay string
		port          int
		security      string
	}{
		{"example.com", "mail.example.net", 2525, ""},
		{"EXAMPLE.COM.", "mail.example.net", 2525, ""},
		{"a.b.example.org", "[192.0.2.1]", 0, "STARTTLS"},
		{"secure.test", "relay.test", 465, "SMTPS"},
		{"elsewhere.test", "smarthost.test", 0, ""},
	} {
		r, ok := Find(rs, c.domain)
		if !ok || r.Relay != c.relay || r.Port != c.port || r.Security != c.security {
			t.Errorf("Find(%s) = %+v %v", c.domain, r, ok)
		}
	}
	rs6, err := ParseRoutes("esmtproutes", []byte("v6.test: relay.test /SECURITY=REQUIRED,IPV6ONLY\nv4.test: relay.test / ipv4only\n"))
	if err != nil || len(rs6) != 2 || !rs6[0].IPv6Only || rs6[0].Security != "REQUIRED" || !rs6[1].IPv4Only {
		t.Errorf("options: %+v %v", rs6, err)
	}
	if _, ok := Find(rs[:3], "example.org"); ok {
		t.Error(".example.org matched example.org itself")
	}
	for in, where := range map[string]string{
		"example.com mail.example.net\n":      "esmtproutes:1:",
		"\nexample.com: host,99999\n":         "esmtproutes:2:",
		"example.com: [300.1.1.1]\n":          "esmtproutes:1:",
		"example.com: host /SECURITY=MAYBE\n": "esmtproutes:1:",
		"example.com: host /FOO=1\n":          "esmtproutes:1:",
		"example.com: host /SECURITY=SMTPS\n": "esmtproutes:1:",
		"example.com: bad host\n":             "esmtproutes:1:",
		"# c\nx.test: h /IPV4ONLY IPV6ONLY\n": "esmtproutes:2:",
		"x.test: h /SECURITY=STARTTSL\n":      "esmtproutes:1:",
	} {
		if _, err := ParseRoutes("esmtproutes", []byte(in)); err == nil || !strings.HasPrefix(err.Error(), where) {
			t.Errorf("ParseRoutes(%q) = %v, want an error at %s", in, err, where)
		}
	}
}

func FuzzParseRoutes(f *testing.F) {
	f.Add([]byte("example.com: mail.example.net,2525\n: [127.0.0.1],2526 /SECURITY=REQUIRED\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseRoutes("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		for _, r := range rs {
			if r.Port < 0 || r.Port > 65535 {
				t.Fatalf("port %d", r.Port)
			}
		}
	})
}
