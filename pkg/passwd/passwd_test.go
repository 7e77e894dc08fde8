package passwd

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"math/big"
	"os/exec"
	"strings"
	"testing"

	"github.com/gocourier/courier/test/testenv"
)

// Outputs recorded from the real tools on Debian 12 (userdbpw from
// courier-authlib-userdb 0.71.4, openssl 3.0, perl's crypt() = libxcrypt).
var knownHashes = []struct{ hash, password string }{
	{"2ML8KpK./SeQI", "secret"},                      // userdbpw (DES)
	{"lGadnIzw.Cbf2", "secret"},                      // userdbpw (DES)
	{"abNANd1rDfiNc", "secret"},                      // crypt("secret","ab")
	{"$1$EQS8D7pU$GGW7Jj0.nqL5R3rbLN9.e0", "secret"}, // userdbpw -md5
	{"$1$GZoB6QS8$3/Xe1U.Gp44fGSVRrr8Gd/", "secret"}, // userdbpw -md5
	{"$1$h5dJM3/s$fs0RKbiCXN0BHH.tvdR/60", "abc"},    // userdbpw -md5, no newline
	{"$1$A6fyOJQU$KkyhKWGEBEv00yhjLXsLI0", ""},       // userdbpw -md5, empty line
	{"$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1", "secret"}, // openssl passwd -1
	{"$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.", "secret"},
	{"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.", "secret"},
	{"$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", "secret"},
	{"$y$j9T$abcdefgh$IUWJt2doU4Kf6E/JP1UkAT3S5O3Q7SSA8SJirXIlEu9", "secret"},
	{"{CRYPT}abNANd1rDfiNc", "secret"},
	{"{crypt}$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1", "secret"},
	// RFC 1321 / FIPS 180 digests of "secret".
	{"{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "secret"},
	{"{md5}Xr4ilOzQ4PCOq3aQ0qbuaQ", "secret"},
	{"{MD5RAW}5ebe2294ecd0e0f08eab7690d2a6ee69", "secret"},
	{"{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", "secret"},
	{"{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", "secret"},
	{"{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==", "secret"},
	// slappasswd -h {SSHA} -s secret (4-byte salt) and an 8-byte salt form.
	{"{SSHA}" + sshaFor("secret", "salt"), "secret"},
	{"{SSHA}" + sshaFor("secret", "longsalt"), "secret"},
}

func sshaFor(password, salt string) string {
	return base64.StdEncoding.EncodeToString(append(sshaSum(password, []byte(salt)), salt...))
}

func TestKnownHashes(t *testing.T) {
	for _, k := range knownHashes {
		if !Check(k.hash, k.password) {
			t.Errorf("Check(%q, %q) = false, want true", k.hash, k.password)
		}
		if Check(k.hash, k.password+"x") {
			t.Errorf("Check(%q, %q+x) = true", k.hash, k.password)
		}
	}
}

func TestRejects(t *testing.T) {
	for _, h := range []string{
		"", "*", "!", "!!", "x", "*LK*", "{MD5}", "{MD5}!!!!", "{SSHA}c2hvcnQ=", "{FOO}abNANd1rDfiNc",
		"abNANd1rDfiN", "abNANd1rDfiNcX", "a!NANd1rDfiNc",
		"$1$", "$5$rounds=999$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.",
		"$5$rounds=01000$ab$x", "$5$rounds=$ab$x", "$5$rounds=1000000000$ab$x",
		"$2b$03$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
		"$2b$32$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
		"$2c$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
		"$2b$05$abcdefghijklmnopqrstu", "$y$", "$y$j9T", "$y$zzz$abc$def", "_J9..abcd",
		"{MD5RAW}zz", "{CRYPT}",
	} {
		if Check(h, "secret") {
			t.Errorf("Check(%q, secret) = true", h)
		}
	}
	// An empty password does not match an empty hash (crypt(3) fails).
	if Check("", "") {
		t.Error(`Check("", "") = true`)
	}
}

// TestDESEightChars: traditional crypt only uses eight characters.
func TestDESEightChars(t *testing.T) {
	h, ok := desHash("12345678", "zz")
	if !ok || !Check(h, "12345678andmore") {
		t.Fatalf("DES hash %q should match any password sharing the first 8 characters", h)
	}
}

// libxcrypt computes crypt(3) for many (password, setting) pairs through
// perl, whose crypt() is the system's.
func libxcrypt(t *testing.T, pairs [][2]string) []string {
	t.Helper()
	testenv.NeedPackage(t, "perl-base", "perl")
	var in bytes.Buffer
	for _, p := range pairs {
		fmt.Fprintf(&in, "%s\t%s\n", hex.EncodeToString([]byte(p[0])), p[1])
	}
	cmd := exec.Command("perl", "-ne", `chomp; my ($p,$s)=split /\t/; print crypt(pack("H*",$p),$s)."\n";`)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("perl crypt: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(pairs) {
		t.Fatalf("perl crypt gave %d lines for %d inputs", len(lines), len(pairs))
	}
	return lines
}

func randomPassword(t *testing.T, maxLen int) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(int64(maxLen)+1))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n.Int64())
	for i := range b {
		c, err := rand.Int(rand.Reader, big.NewInt(94))
		if err != nil {
			t.Fatal(err)
		}
		b[i] = byte(33 + c.Int64())
	}
	return string(b)
}

// TestAgainstLibxcrypt: hashes made by the system crypt(3) are accepted by
// Check, and hashes made by Hash are reproduced by the system crypt(3).
func TestAgainstLibxcrypt(t *testing.T) {
	var pairs [][2]string
	for range 40 {
		salt, _ := randomSalt(2)
		pairs = append(pairs, [2]string{randomPassword(t, 12), salt})
	}
	for _, setting := range []string{"$1$abcdefgh", "$1$abcdefghijkl", "$5$rounds=1000$saltsaltsaltsalt", "$5$x", "$6$rounds=2000$abc", "$6$saltsaltsaltsaltXX", "$2b$04$abcdefghijklmnopqrstuu", "$2y$04$abcdefghijklmnopqrstuu", "$2a$04$abcdefghijklmnopqrstuu", "$y$j75$abcdefgh"} {
		for range 3 {
			pairs = append(pairs, [2]string{randomPassword(t, 80), setting})
		}
	}
	// Hashes of our own, to be checked by the system.
	ours := map[int]bool{}
	for _, scheme := range []string{"des", "md5", "sha256", "sha512"} {
		for range 3 {
			pw := randomPassword(t, 20)
			h, err := Hash(scheme, pw)
			if err != nil {
				t.Fatal(err)
			}
			ours[len(pairs)] = true
			pairs = append(pairs, [2]string{pw, h})
		}
	}
	got := libxcrypt(t, pairs)
	for i, p := range pairs {
		h := got[i]
		if ours[i] && h != p[1] {
			t.Errorf("system crypt(%q, %q) = %q; our hash differs", p[0], p[1], h)
		}
		if !Check(h, p[0]) {
			t.Errorf("Check(%q, %q) = false for the system's crypt output", h, p[0])
		}
		if mine, ok := cryptHash(p[0], p[1]); !ok || mine != h {
			t.Errorf("cryptHash(%q, %q) = %q, system says %q", p[0], p[1], mine, h)
		}
	}
}

func TestAgainstOpenSSL(t *testing.T) {
	testenv.NeedPackage(t, "openssl", "openssl")
	for _, opt := range []string{"-1", "-5", "-6"} {
		// openssl passwd prints "<NULL>" for an empty line, so the
		// password has at least one character.
		pw := "p" + randomPassword(t, 29)
		cmd := exec.Command("openssl", "passwd", opt, "-stdin")
		cmd.Stdin = strings.NewReader(pw + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl passwd %s: %v", opt, err)
		}
		h := strings.TrimSpace(string(out))
		if !Check(h, pw) {
			t.Errorf("openssl passwd %s: Check(%q, %q) = false", opt, h, pw)
		}
	}
}

func userdbpw(t *testing.T, opt, password string) string {
	t.Helper()
	var args []string
	if opt != "" {
		args = append(args, opt)
	}
	cmd := exec.Command("/usr/sbin/userdbpw", args...)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("userdbpw %s: %v", opt, err)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// TestRealUserdbpw: the real userdbpw's hashes are accepted, and our HMAC
// keys are byte-identical to its -hmac-* output.
func TestRealUserdbpw(t *testing.T) {
	testenv.NeedPackage(t, "courier-authlib-userdb", "/usr/sbin/userdbpw")
	passwords := []string{"secret", "", "a b\tc", "pässwörd", strings.Repeat("k", 64), strings.Repeat("long", 40), "tanstaaftanstaaf"}
	for _, pw := range passwords {
		for _, opt := range []string{"", "-md5"} {
			h := userdbpw(t, opt, pw)
			if !Check(h, pw) {
				t.Errorf("userdbpw %s %q printed %q, which Check refuses", opt, pw, h)
			}
		}
		for _, alg := range HMACHashes() {
			want := userdbpw(t, "-hmac-"+alg, pw)
			got, err := Hash("hmac-"+alg, pw)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("hmac-%s of %q: got %s, userdbpw says %s", alg, pw, got, want)
			}
		}
	}
}

// TestCRAMAgainstStdlib: resuming from the stored states gives exactly
// crypto/hmac's result, for short and long (pre-hashed) keys.
func TestCRAMAgainstStdlib(t *testing.T) {
	news := map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New}
	for alg, newHash := range news {
		for _, pwLen := range []int{0, 1, 63, 64, 65, 200} {
			pw := randomPassword(t, 0) + strings.Repeat("p", pwLen)
			key, err := HMACKey(alg, pw)
			if err != nil {
				t.Fatal(err)
			}
			challenge := "<" + randomPassword(t, 100) + "@example.com>"
			m := hmac.New(newHash, []byte(pw))
			m.Write([]byte(challenge))
			want := m.Sum(nil)
			got, err := CRAMDigest(alg, key, challenge)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s len %d: CRAMDigest = %x, crypto/hmac = %x", alg, pwLen, got, want)
			}
			resp := hex.EncodeToString(want)
			if !CheckCRAM(alg, key, challenge, resp) || !CheckCRAM(alg, key, challenge, strings.ToUpper(resp)) {
				t.Errorf("%s: CheckCRAM refuses the right response", alg)
			}
			if CheckCRAM(alg, key, challenge+"x", resp) || CheckCRAM(alg, key, challenge, resp[:len(resp)-2]) || CheckCRAM(alg, key[2:], challenge, resp) || CheckCRAM(alg, key, challenge, "zz"+resp[2:]) {
				t.Errorf("%s: CheckCRAM accepts a wrong response", alg)
			}
		}
	}
	// RFC 2195 §2 example.
	key, _ := HMACKey("md5", "tanstaaftanstaaf")
	if !CheckCRAM("md5", key, "<1896.697170952@postoffice.reston.mci.net>", "b913a602c7eda7a495b4e6e7334d3890") {
		t.Error("RFC 2195 example refused")
	}
	if CheckCRAM("sha512", key, "x", "00") {
		t.Error("unknown hash accepted")
	}
}

func TestSameScheme(t *testing.T) {
	cases := []struct{ old, prefix string }{
		{"$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1", "$1$"},
		{"$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.", "$5$"},
		{"$6$rounds=1500$abc$xyz", "$6$rounds=1500$"},
		{"$2a$04$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", "$2b$04$"},
		{"$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", "$2y$05$"},
		{"$y$j75$abcdefgh$IUWJt2doU4Kf6E/JP1UkAT3S5O3Q7SSA8SJirXIlEu9", "$y$j75$"},
		{"abNANd1rDfiNc", ""},
		{"{crypt}$1$abcdefgh$cHJi5PXp/ki/ktXzqlk6I1", "{crypt}$1$"},
		{"{MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==", "{MD5}"},
		{"{md5raw}5ebe2294ecd0e0f08eab7690d2a6ee69", "{md5raw}"},
		{"{SHA}x", "{SHA}"},
		{"{SHA256}x", "{SHA256}"},
		{"{SHA512}x", "{SHA512}"},
		{"{SSHA}x", "{SSHA}"},
		{"*", "$6$"},
		{"", "$6$"},
	}
	for _, c := range cases {
		h, err := SameScheme(c.old, "n3w pass")
		if err != nil {
			t.Fatalf("SameScheme(%q): %v", c.old, err)
		}
		if !strings.HasPrefix(h, c.prefix) {
			t.Errorf("SameScheme(%q) = %q, want prefix %q", c.old, h, c.prefix)
		}
		if c.old == "abNANd1rDfiNc" && !isDES(h) {
			t.Errorf("SameScheme of a DES hash gave %q", h)
		}
		if !Check(h, "n3w pass") || Check(h, "old pass") {
			t.Errorf("SameScheme(%q) = %q does not check as the new password", c.old, h)
		}
	}
}

func TestHashErrors(t *testing.T) {
	if _, err := Hash("rot13", "x"); err == nil || !strings.Contains(err.Error(), "rot13") {
		t.Errorf("unknown scheme: err = %v", err)
	}
	if _, err := HMACKey("md4", "x"); err == nil {
		t.Error("HMACKey(md4) succeeded")
	}
	if _, err := CRAMDigest("md5", "abc", "x"); err == nil {
		t.Error("short key accepted")
	}
}
