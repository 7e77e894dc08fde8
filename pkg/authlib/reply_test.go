package authlib

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Replies captured from the real authdaemond (spec/authdaemon.md §3).
const (
	alicePre  = "UID=999\nGID=995\nHOME=/home/vmail/alice\nADDRESS=alice@example.com\nNAME=Alice Liddell\nMAILDIR=/home/vmail/alice/Maildir\nQUOTA=1000000S\nPASSWD=$1$80vWTwQB$CHkHIE4.P4Xth2lSTvWCj.\nOPTIONS=disableimap=0,disablewebmail=1,disableshared=1\n.\n"
	aliceCram = "UID=999\nGID=995\nHOME=/home/vmail/alice\nADDRESS=alice@example.com\nMAILDIR=/home/vmail/alice/Maildir\nOPTIONS=disableimap=0,disablewebmail=1,disableshared=1\n.\n"
	rootPre   = "USERNAME=root\nGID=0\nHOME=/root\nADDRESS=root\nNAME=root\nPASSWD=*\n.\n"
	vmailPre  = "USERNAME=vmail\nGID=995\nHOME=/home/vmail\nADDRESS=vmail\nNAME=\nPASSWD=!\nOPTIONS=disablewebmail=0,disableshared=1\n.\n"
)

func TestReplyRoundTrip(t *testing.T) {
	for _, in := range []string{alicePre, aliceCram, rootPre, vmailPre} {
		a, err := ParseReply([]byte(in))
		if err != nil {
			t.Fatalf("ParseReply(%q): %v", in, err)
		}
		if out := string(AppendAccount(nil, a)); out != in {
			t.Errorf("re-encoded\n%q\nwant\n%q", out, in)
		}
	}
	a, _ := ParseReply([]byte(alicePre))
	want := &Account{UID: 999, HasUID: true, GID: 995, Home: "/home/vmail/alice", Address: "alice@example.com",
		Name: "Alice Liddell", HasName: true, Maildir: "/home/vmail/alice/Maildir", Quota: "1000000S",
		Passwd:  "$1$80vWTwQB$CHkHIE4.P4Xth2lSTvWCj.",
		Options: Options{{Name: "disableimap", Value: "0"}, {Name: "disablewebmail", Value: "1"}, {Name: "disableshared", Value: "1"}}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("parsed %+v\nwant %+v", a, want)
	}
}

func TestAppendAccountNameAndNewline(t *testing.T) {
	a := &Account{HasUID: true, UID: 1, GID: 2, Name: "Alice Liddell,Room 1", HasName: true, Home: "/h\nUID=0"}
	if got, want := string(AppendAccount(nil, a)), "UID=1\nGID=2\nHOME=/h\nNAME=Alice Liddell\n.\n"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestReadReplyFailures(t *testing.T) {
	if _, err := ParseReply([]byte("FAIL\n")); !errors.Is(err, ErrFail) || errors.Is(err, ErrTemporary) {
		t.Errorf("FAIL: %v", err)
	}
	for _, in := range []string{"", "UID=1\nGID=1\n", "GID=1\n.\n", "UID=x\nGID=1\n.\n", "UID=1\nGID=-1\n.\n", "UID=1\n" + strings.Repeat("X=y\n", maxReply/4) + ".\n"} {
		_, err := ParseReply([]byte(in))
		if !errors.Is(err, ErrTemporary) || errors.Is(err, ErrFail) {
			t.Errorf("ParseReply(%q) = %v, want a temporary error", clip(in), err)
		}
	}
	// Unknown keys and lines without '=' are ignored.
	a, err := ParseReply([]byte("UID=5\nGID=6\nFUTURE=1\nnoise\n.\n"))
	if err != nil || a.UID != 5 || a.GID != 6 {
		t.Errorf("%+v %v", a, err)
	}
}

func TestOptions(t *testing.T) {
	acct := ParseOptions("disableimap=0,disablewebmail=1")
	def := ParseOptions("disablewebmail=0,disableshared=1")
	// [observed] merge results.
	if got := MergeOptions(acct, def).String(); got != "disableimap=0,disablewebmail=1,disableshared=1" {
		t.Errorf("merge: %q", got)
	}
	if got := MergeOptions(nil, def).String(); got != "disablewebmail=0,disableshared=1" {
		t.Errorf("merge into none: %q", got)
	}
	o := ParseOptions("group=a,wbnoimages,disablepop3=yes,x=T,n= 12z,group=b,neg=-3,,")
	if o.String() != "group=a,wbnoimages,disablepop3=yes,x=T,n= 12z,group=b,neg=-3" {
		t.Errorf("String %q", o.String())
	}
	for name, want := range map[string]int{"disablepop3": 1, "x": 1, "n": 12, "wbnoimages": 0, "missing": 0, "group": 0, "neg": -3} {
		if got := o.Int(name); got != want {
			t.Errorf("Int(%s) = %d want %d", name, got, want)
		}
	}
	if v, ok := o.Get("wbnoimages"); !ok || v != "" {
		t.Error("bare option")
	}
	if !reflect.DeepEqual(o.All("group"), []string{"a", "b"}) || !o.Enabled("disablepop3") {
		t.Error("All/Enabled")
	}
}

func TestEnumerate(t *testing.T) {
	// [observed] listing, plus a line of an older daemon without options,
	// a uid 0 entry and a comment.
	in := "# authuserdb\n\nalice@example.com\t999\t995\t/home/vmail/alice\t/home/vmail/alice/Maildir\tdisableimap=0,disablewebmail=1\n# authpam\n\nnobody\t65534\t65534\t/nonexistent\t\t\nold\t5\t5\t/o\t/o/M\nroot\t0\t0\t/root\t\t\nbob\t7\t7\t/b\t\t# note\n.\n"
	var got []string
	err := ReadEnumerate(bufio.NewReader(strings.NewReader(in)), func(e EnumEntry) error {
		b, ok := AppendEnumEntry(nil, e)
		if !ok {
			t.Errorf("cannot encode %+v", e)
		}
		got = append(got, e.Module+":"+string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"authuserdb:alice@example.com\t999\t995\t/home/vmail/alice\t/home/vmail/alice/Maildir\tdisableimap=0,disablewebmail=1\n",
		"authpam:nobody\t65534\t65534\t/nonexistent\t\t\n",
		"authpam:old\t5\t5\t/o\t/o/M\t\n",
		"authpam:bob\t7\t7\t/b\t\t\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	err = ReadEnumerate(bufio.NewReader(strings.NewReader("# authuserdb\n\na\t1\t1\t/\t\t\n")), func(EnumEntry) error { return nil })
	if !errors.Is(err, ErrTemporary) {
		t.Errorf("listing without '.': %v", err)
	}
	if _, ok := AppendEnumEntry(nil, EnumEntry{Name: "a\tb"}); ok {
		t.Error("tab in a name was written")
	}
	if got := string(AppendEnumModule(nil, "authuserdb")); got != "# authuserdb\n\n" {
		t.Errorf("module header %q", got)
	}
}

func FuzzParseReply(f *testing.F) {
	f.Add([]byte(alicePre))
	f.Add([]byte(rootPre))
	f.Add([]byte("FAIL\n"))
	f.Add([]byte("UID=1\nGID=x\n.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseReply(data)
		if err != nil {
			if !errors.Is(err, ErrFail) && !errors.Is(err, ErrTemporary) {
				t.Fatalf("error %v is neither permanent nor temporary", err)
			}
			return
		}
		// A parsed account re-encodes to a reply that parses the same.
		again, err := ParseReply(AppendAccount(nil, a))
		if err != nil {
			t.Fatalf("re-encoded reply does not parse: %v", err)
		}
		if a.Username == "" && again.UID != a.UID || again.GID != a.GID || again.Username != a.Username || again.Options.String() != a.Options.String() {
			t.Fatalf("round trip changed %+v into %+v", a, again)
		}
	})
}

func FuzzReadEnumerate(f *testing.F) {
	f.Add([]byte("# authuserdb\n\nalice@example.com\t999\t995\t/home/vmail/alice\t/home/vmail/alice/Maildir\tdisableimap=0\n.\n"))
	f.Add([]byte("a\t1\t1\n.\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ReadEnumerate(bufio.NewReaderSize(strings.NewReader(string(data)), 4096), func(e EnumEntry) error {
			if e.UID == 0 || e.GID == 0 {
				t.Fatalf("entry with uid/gid 0: %+v", e)
			}
			return nil
		})
	})
}
