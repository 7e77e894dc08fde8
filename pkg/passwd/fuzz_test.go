package passwd

import (
	"strings"
	"testing"
)

// expensive reports hashes whose work factor would make one fuzz execution
// take seconds; the parser still sees them through the cheap seeds.
func expensive(h string) bool {
	if _, rest, ok := splitPrefix(h); ok {
		h = rest
	}
	for _, p := range []string{"$5$", "$6$"} {
		if strings.HasPrefix(h, p) {
			rounds, _, _, ok := shaRounds(h[3:])
			return ok && rounds > 20000
		}
	}
	if _, cost, _, ok := bcryptSetting(h); ok {
		return cost > 6
	}
	// yescrypt's memory cost: N = 2^(n+1) blocks of r*128 bytes.
	if strings.HasPrefix(h, "$y$") {
		return len(h) < 6 || cryptIndex(h[4]) > 11 || cryptIndex(h[5]) > 7
	}
	return false
}

// FuzzCheck feeds arbitrary stored hashes and passwords to Check, Hash's
// scheme parser (SameScheme) and the CRAM verifier: none may panic, and a
// hash made by SameScheme must verify.
func FuzzCheck(f *testing.F) {
	for _, k := range knownHashes {
		if !expensive(k.hash) {
			f.Add(k.hash, k.password)
		}
	}
	f.Add("{SSHA}", "")
	f.Add("$5$rounds=1000$", "x")
	f.Fuzz(func(t *testing.T, hash, password string) {
		if expensive(hash) {
			return
		}
		Check(hash, password)
		CheckCRAM("md5", hash, password, hash)
		nh, err := SameScheme(hash, password)
		if err != nil {
			t.Fatalf("SameScheme(%q): %v", hash, err)
		}
		if !Check(nh, password) {
			t.Fatalf("SameScheme(%q, %q) = %q, which does not verify", hash, password, nh)
		}
	})
}
