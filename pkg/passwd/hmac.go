package passwd

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// hmacAlg describes one hash usable for the precomputed CRAM keys that
// userdbpw -hmac-* prints and the *-hmac-*pw fields hold.
type hmacAlg struct {
	name         string
	new          func() hash.Hash
	words        int  // 32-bit words of chaining state
	littleEndian bool // how authlib serialises the state words
}

// The hash state marshalled by crypto/md5, crypto/sha1 and crypto/sha256
// starts with a 4-byte magic followed by the state words, big-endian.
const stateOffset = 4

var hmacAlgs = map[string]hmacAlg{
	"md5":    {"md5", md5.New, 4, true},
	"sha1":   {"sha1", sha1.New, 5, false},
	"sha256": {"sha256", sha256.New, 8, false},
}

// HMACHashes lists the hash names accepted by HMACKey and CheckCRAM.
func HMACHashes() []string { return []string{"md5", "sha1", "sha256"} }

func lookupHMAC(name string) (hmacAlg, error) {
	a, ok := hmacAlgs[strings.ToLower(name)]
	if !ok {
		return hmacAlg{}, fmt.Errorf("unknown HMAC hash %q (known: md5, sha1, sha256)", name)
	}
	return a, nil
}

// padState returns the chaining state of alg after compressing one block
// of key⊕pad (RFC 2104 §2), serialised the way authlib's userdbpw does.
func padState(alg hmacAlg, key []byte, pad byte) ([]byte, error) {
	h := alg.new()
	block := make([]byte, h.BlockSize())
	copy(block, key)
	for i := range block {
		block[i] ^= pad
	}
	h.Write(block)
	m, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 4*alg.words)
	for i := range alg.words {
		w := binary.BigEndian.Uint32(m[stateOffset+4*i:])
		if alg.littleEndian {
			binary.LittleEndian.PutUint32(out[4*i:], w)
		} else {
			binary.BigEndian.PutUint32(out[4*i:], w)
		}
	}
	return out, nil
}

// resume returns a hash of alg that continues from a state saved by
// padState, as if one block had already been written.
func resume(alg hmacAlg, state []byte) (hash.Hash, error) {
	h := alg.new()
	h.Write(make([]byte, h.BlockSize()))
	m, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	for i := range alg.words {
		var w uint32
		if alg.littleEndian {
			w = binary.LittleEndian.Uint32(state[4*i:])
		} else {
			w = binary.BigEndian.Uint32(state[4*i:])
		}
		binary.BigEndian.PutUint32(m[stateOffset+4*i:], w)
	}
	r := alg.new()
	if err := r.(encoding.BinaryUnmarshaler).UnmarshalBinary(m); err != nil {
		return nil, err
	}
	return r, nil
}

// HMACKey returns the precomputed HMAC key of password for hashName ("md5",
// "sha1", "sha256") in userdbpw's format: lower-case hex of the outer
// (key⊕0x5c) state followed by the inner (key⊕0x36) state.
func HMACKey(hashName, password string) (string, error) {
	alg, err := lookupHMAC(hashName)
	if err != nil {
		return "", err
	}
	key := []byte(password)
	if bs := alg.new().BlockSize(); len(key) > bs {
		h := alg.new()
		h.Write(key)
		key = h.Sum(nil)
	}
	outer, err := padState(alg, key, 0x5c)
	if err != nil {
		return "", err
	}
	inner, err := padState(alg, key, 0x36)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(outer) + hex.EncodeToString(inner), nil
}

// CRAMDigest computes HMAC(password, challenge) from a key made by HMACKey,
// without knowing the password.
func CRAMDigest(hashName, keyHex, challenge string) ([]byte, error) {
	alg, err := lookupHMAC(hashName)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) != 8*alg.words {
		return nil, fmt.Errorf("%s HMAC key is not %d hex digits", alg.name, 16*alg.words)
	}
	outerState, innerState := key[:4*alg.words], key[4*alg.words:]
	inner, err := resume(alg, innerState)
	if err != nil {
		return nil, err
	}
	inner.Write([]byte(challenge))
	innerSum := inner.Sum(nil)
	outer, err := resume(alg, outerState)
	if err != nil {
		return nil, err
	}
	outer.Write(innerSum)
	return outer.Sum(nil), nil
}

// CheckCRAM verifies a CRAM-MD5/SHA1/SHA256 response (RFC 2195): response
// is the hex digest the client sent, keyHex the stored *-hmac-*pw value.
// The comparison is constant time; a malformed key or response fails.
func CheckCRAM(hashName, keyHex, challenge, response string) bool {
	want, err := CRAMDigest(hashName, keyHex, challenge)
	if err != nil {
		return false
	}
	got, err := hex.DecodeString(response)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(want, got) == 1
}
