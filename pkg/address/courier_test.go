package address

import (
	"reflect"
	"strings"
	"testing"
)

func mustDomain(t *testing.T, s string) Domain {
	t.Helper()
	d, err := ParseDomain(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustAddr(t *testing.T, s string) Address {
	t.Helper()
	l, err := ParseHeaderList(s)
	if err != nil || len(l) != 1 {
		t.Fatalf("ParseHeaderList(%q) = %v, %v", s, l, err)
	}
	a, err := l[0].Envelope(Domain{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// courier(8) "locals": exact names, ".domain" wildcards, "!" exclusions
// that must precede the wildcard, "*" for the host name.
func TestDomainList(t *testing.T) {
	l, err := ParseDomainList([]string{
		"# local domains",
		"example.com",
		"  .example.com  ",
		"!host.example.net",
		".example.net",
		"",
		".example.org",
		"!host.example.org # too late: the wildcard above already matched",
		"*",
		"*.corp.example",
		"!*.lab.example",
		".lab.example",
		"[192.0.2.1]",
		"BÜCHER.example\t# trailing comment",
	}, "mx1")
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{
		"example.com":               true,
		"EXAMPLE.COM":               true,
		"a.example.com":             true,
		"b.a.example.com":           true,
		"notexample.com":            false,
		"com":                       false,
		"host.example.net":          false,
		"other.example.net":         true,
		"example.net":               false,
		"host.example.org":          true,
		"mx1":                       true,
		"mx1.corp.example":          true,
		"mx2.corp.example":          false,
		"corp.example":              false,
		"mx1.lab.example":           false,
		"mx2.lab.example":           true,
		"[192.0.2.1]":               true,
		"[192.0.2.2]":               false,
		"bücher.example":            true,
		"xn--bcher-kva.example":     true,
		"sub.xn--bcher-kva.example": false,
	} {
		if got := l.Contains(mustDomain(t, d)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", d, got, want)
		}
	}
	if l.Contains(Domain{}) {
		t.Error("Contains(zero domain) = true")
	}
	var nilList *DomainList
	if nilList.Contains(mustDomain(t, "example.com")) {
		t.Error("nil list contains a domain")
	}

	// Without a host name, "*" lines never match (Courier compares
	// against an empty host name).
	l, err = ParseDomainList([]string{"*", "*.corp.example"}, "")
	if err != nil || len(l.entries) != 0 {
		t.Errorf("ParseDomainList without host name = %+v, %v", l, err)
	}

	for lines, want := range map[string]string{
		"ok.example\nexa mple.com": `line 2: malformed domain "exa mple.com": character ' ' not allowed in a domain at column 4`,
		"!":                        `line 1: malformed domain "": empty domain at column 1`,
		".":                        `line 1: malformed domain "": empty domain at column 1`,
		"..example":                `line 1: malformed domain ".example": domain starts with '.' at column 1`,
		".[192.0.2.1]":             `line 1: malformed domain "[192.0.2.1]": an address literal cannot be a '.' wildcard at column 1`,
		"a_b.example":              `line 1: malformed domain "a_b.example": character '_' not allowed in a domain at column 2`,
	} {
		if _, err := ParseDomainList(strings.Split(lines, "\n"), "mx1"); err == nil || err.Error() != want {
			t.Errorf("ParseDomainList(%q) error\n got %v\nwant %s", lines, err, want)
		}
	}
}

// hosteddomains.dat, esmtpacceptmailfor.dat, esmtppercentrelay.dat keys.
func TestDomainDB(t *testing.T) {
	db, err := NewDomainDB(map[string]string{
		"hosted.example":    "1",
		".wild.example":     "1",
		"alias.example":     "Hosted.Example",
		"*":                 "1",
		"bücher.example":    "",
		".xn--80akhbyknj4f": "1",
	}, "mx1.example")
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{
		"hosted.example":               true,
		"HOSTED.example":               true,
		"a.hosted.example":             false,
		"wild.example":                 false,
		"a.wild.example":               true,
		"a.b.c.d.e.f.g.wild.example":   true,  // 7th parent key
		"a.b.c.d.e.f.g.h.wild.example": false, // would be the 8th
		"alias.example":                true,
		"mx1.example":                  true,
		"mx2.example":                  false,
		"xn--bcher-kva.example":        true,
		"тест.испытание":               true,
	} {
		if got := db.Contains(mustDomain(t, d)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", d, got, want)
		}
	}
	for d, want := range map[string]string{
		"hosted.example":           "hosted.example",
		"alias.example":            "hosted.example",
		"a.wild.example":           ".wild.example",
		"a.b.c.d.e.wild.example":   ".wild.example", // 5th parent key
		"a.b.c.d.e.f.wild.example": "",              // would be the 6th
		"mx1.example":              "mx1.example",
		"bücher.example":           "bücher.example",
		"тест.испытание":           ".испытание",
		"other.example":            "",
	} {
		got, ok := db.hosted(mustDomain(t, d))
		if got != want || ok != (want != "") {
			t.Errorf("hosted(%s) = %q, %v; want %q", d, got, ok, want)
		}
	}
	var nilDB *DomainDB
	if nilDB.Contains(mustDomain(t, "hosted.example")) {
		t.Error("nil DomainDB contains a domain")
	}
	for _, tc := range []struct {
		m   map[string]string
		err string
	}{
		{map[string]string{"bad key": "1"}, `key "bad key": malformed domain "bad key": character ' ' not allowed in a domain at column 4`},
		{map[string]string{"": "1"}, `key "": malformed domain "": empty key at column 1`},
		{map[string]string{"x.example": "not a domain!"}, `key "x.example": value: malformed domain "not a domain!": character ' ' not allowed in a domain at column 4`},
	} {
		if _, err := NewDomainDB(tc.m, ""); err == nil || err.Error() != tc.err {
			t.Errorf("NewDomainDB(%v) error\n got %v\nwant %s", tc.m, err, tc.err)
		}
	}
}

func testRules(t *testing.T) *Rules {
	t.Helper()
	locals, err := ParseDomainList([]string{"localhost", "vm", "example.test"}, "vm")
	if err != nil {
		t.Fatal(err)
	}
	hosted, err := NewDomainDB(map[string]string{
		"hosted.example": "1",
		"alias.example":  "hosted.example",
		".wild.example":  "1",
	}, "vm")
	if err != nil {
		t.Fatal(err)
	}
	relay, err := ParseDomainList([]string{"relay.example", ".sub.example"}, "vm")
	if err != nil {
		t.Fatal(err)
	}
	relayDB, err := NewDomainDB(map[string]string{"dbrelay.example": "1"}, "vm")
	if err != nil {
		t.Fatal(err)
	}
	return &Rules{
		Me: mustDomain(t, "vm"), Locals: locals, Hosted: hosted,
		PercentRelay: relay, PercentRelayDB: relayDB, Separators: "+",
	}
}

// dot-courier.md §1: address to account and extension.
func TestResolve(t *testing.T) {
	r := testRules(t)
	alias := func(ext string) Lookup { return Lookup{Account: "alias", Ext: ext, AliasDir: true} }
	tests := []struct {
		addr      string
		lowercase bool
		local     bool
		name      string
		hosted    string
		reserved  bool
		lookups   []Lookup
	}{
		{addr: "user@vm", local: true, name: "user", lookups: []Lookup{{"user", "", false}, alias("user")}},
		{addr: "user@EXAMPLE.test", local: true, name: "user", lookups: []Lookup{{"user", "", false}, alias("user")}},
		{addr: "joe", local: true, name: "joe", lookups: []Lookup{{"joe", "", false}, alias("joe")}},
		{addr: "a-b-c-d@vm", local: true, name: "a-b-c-d", lookups: []Lookup{
			{"a-b-c-d", "", false}, {"a-b-c", "d", false}, {"a-b", "c-d", false}, {"a", "b-c-d", false}, alias("a-b-c-d")}},
		{addr: "a-b-c-d-e-f@vm", local: true, name: "a-b-c-d-e-f", lookups: []Lookup{
			{"a-b-c-d", "e-f", false}, {"a-b-c", "d-e-f", false}, {"a-b", "c-d-e-f", false}, {"a", "b-c-d-e-f", false}, alias("a-b-c-d-e-f")}},
		{addr: "user+foo-bar@vm", local: true, name: "user+foo-bar", lookups: []Lookup{
			{"user+foo-bar", "", false}, {"user+foo", "bar", false}, {"user", "foo-bar", false}, alias("user-foo-bar")}},
		{addr: "-foo@vm", local: true, name: "-foo", lookups: []Lookup{{"-foo", "", false}, alias("-foo")}},
		{addr: "a--b@vm", local: true, name: "a--b", lookups: []Lookup{{"a--b", "", false}, {"a-", "b", false}, {"a", "-b", false}, alias("a--b")}},
		{addr: "User@vm", local: true, name: "User", lookups: []Lookup{{"User", "", false}, alias("User")}},
		{addr: "User.Name@vm", lowercase: true, local: true, name: "user.name", lookups: []Lookup{{"user.name", "", false}, alias("user.name")}},
		{addr: "POSTMASTER@vm", local: true, name: "postmaster", lookups: []Lookup{{"postmaster", "", false}, alias("postmaster")}},
		{addr: "Postmaster-X@vm", local: true, name: "Postmaster-X", lookups: []Lookup{{"Postmaster-X", "", false}, {"Postmaster", "X", false}, alias("Postmaster-X")}},
		{addr: "PostMaster@Hosted.Example", local: true, name: "postmaster@hosted.example", hosted: "hosted.example", lookups: []Lookup{
			{"postmaster@hosted.example", "", false}, {"alias@hosted.example", "postmaster", false}, alias("postmaster@hosted.example")}},
		{addr: "info@hosted.example", local: true, name: "info@hosted.example", hosted: "hosted.example", lookups: []Lookup{
			{"info@hosted.example", "", false}, {"alias@hosted.example", "info", false}, alias("info@hosted.example")}},
		{addr: "Sales+EU@alias.example", lowercase: true, local: true, name: "sales+eu@hosted.example", hosted: "hosted.example", lookups: []Lookup{
			{"sales+eu@hosted.example", "", false}, {"sales@hosted.example", "eu", false}, {"alias@hosted.example", "sales-eu", false}, alias("sales-eu@hosted.example")}},
		{addr: "x@a.wild.example", local: true, name: "x@.wild.example", hosted: ".wild.example", lookups: []Lookup{
			{"x@.wild.example", "", false}, {"alias@.wild.example", "x", false}, alias("x@.wild.example")}},
		{addr: `".xalias/root@vm"@vm`, local: true, name: ".xalias/root@vm", reserved: true, lookups: []Lookup{alias(".xalias/root@vm")}},
		{addr: `""@vm`, local: true, name: ""},
		{addr: "user@remote.example", local: false},
		{addr: "host!user@vm", local: false},
		{addr: "host!user", local: false},
		{addr: "user@[192.0.2.1]", local: false},
	}
	for _, tc := range tests {
		r.LocalLowercase = tc.lowercase
		res, ok := r.Resolve(mustAddr(t, tc.addr))
		if ok != tc.local {
			t.Errorf("Resolve(%s) local = %v, want %v", tc.addr, ok, tc.local)
			continue
		}
		if !ok {
			continue
		}
		want := Resolution{Name: tc.name, Hosted: tc.hosted, Lookups: tc.lookups, Reserved: tc.reserved}
		if !reflect.DeepEqual(res, want) {
			t.Errorf("Resolve(%s) =\n%+v\nwant\n%+v", tc.addr, res, want)
		}
	}

	// Courier 1.0.16 without "defaultsep": only '-' separates.
	r.Separators = ""
	r.LocalLowercase = false
	res, _ := r.Resolve(mustAddr(t, "user+foo-bar@vm"))
	if want := []Lookup{{"user+foo-bar", "", false}, {"user+foo", "bar", false}, alias("user+foo-bar")}; !reflect.DeepEqual(res.Lookups, want) {
		t.Errorf("Resolve without defaultsep = %+v, want %+v", res.Lookups, want)
	}
}

func TestLocalDomainAndAccept(t *testing.T) {
	r := testRules(t)
	for d, want := range map[string]string{
		"vm": "", "localhost": "", "hosted.example": "hosted.example", "alias.example": "hosted.example",
	} {
		if got, ok := r.LocalDomain(mustDomain(t, d)); !ok || got != want {
			t.Errorf("LocalDomain(%s) = %q, %v; want %q", d, got, ok, want)
		}
	}
	if _, ok := r.LocalDomain(mustDomain(t, "remote.example")); ok {
		t.Error("remote.example is local")
	}
	if !r.InLocals(mustDomain(t, "vm")) || r.InLocals(mustDomain(t, "hosted.example")) || r.InLocals(Domain{}) {
		t.Error("InLocals")
	}

	// Missing locals and esmtpacceptmailfor: "me" alone.
	me := &Rules{Me: mustDomain(t, "mx.example")}
	if !me.InLocals(mustDomain(t, "MX.example")) || me.InLocals(mustDomain(t, "localhost")) {
		t.Error("missing locals is not me")
	}
	if !me.AcceptsMailFor(mustDomain(t, "mx.example")) || me.AcceptsMailFor(mustDomain(t, "other.example")) || me.AcceptsMailFor(Domain{}) {
		t.Error("missing esmtpacceptmailfor is not me")
	}
	acc, err := ParseDomainList([]string{"!host.example.com", ".example.com", "example.com"}, "")
	if err != nil {
		t.Fatal(err)
	}
	accDB, err := NewDomainDB(map[string]string{".db.example": "1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	me.AcceptMailFor, me.AcceptMailForDB = acc, accDB
	for d, want := range map[string]bool{
		"mx.example": false, "example.com": true, "a.example.com": true, "host.example.com": false, "x.db.example": true,
	} {
		if got := me.AcceptsMailFor(mustDomain(t, d)); got != want {
			t.Errorf("AcceptsMailFor(%s) = %v, want %v", d, got, want)
		}
	}
}

// makepercentrelay(8): user%remote@local becomes user@remote.
func TestPercentHack(t *testing.T) {
	r := testRules(t)
	for in, want := range map[string]string{
		"user%relay.example@vm":               "user@relay.example",
		"user%RELAY.example@localhost":        "user@relay.example",
		"user%x.sub.example@example.test":     "user@x.sub.example",
		"a%b%relay.example@vm":                `a%b@relay.example`,
		"user%dbrelay.example@hosted.example": "user@dbrelay.example",
		"user%other.example@vm":               "",
		"user%sub.example@vm":                 "",
		"user%relay.example@remote.example":   "",
		"%relay.example@vm":                   "",
		"user%@vm":                            "",
		`"user%[192.0.2.1]"@vm`:               "",
		"user%bad_domain@vm":                  "",
		"user@vm":                             "",
		"user%relay.example":                  "",
	} {
		a := mustAddr(t, in)
		got, ok := r.PercentHack(a)
		if want == "" {
			if ok || got != a {
				t.Errorf("PercentHack(%s) = %s, %v; want unchanged", in, got, ok)
			}
			continue
		}
		if !ok || got.String() != want {
			t.Errorf("PercentHack(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
}
