// Package password hashes and verifies link passwords with argon2id, in the
// self-describing PHC form $argon2id$v=19$m=…,t=…,p=…$salt$hash, so stored
// hashes keep working when the parameters are raised later. It is pure: no
// I/O besides reading randomness, no limits on concurrency (the caller caps
// how many hashes run at once, since each needs Params.Memory KiB).
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen int // bytes
	KeyLen  int // bytes
}

// Default meets OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on what Verify accepts from an encoded hash, so a corrupt or
// hostile record cannot make one check take gigabytes or minutes.
const (
	minMemory  = 8 * 1024
	maxMemory  = 1024 * 1024
	maxTime    = 16
	maxThreads = 16
	minSalt    = 8
	maxSalt    = 64
	minKey     = 16
	maxKey     = 64
)

// ErrMalformed reports an encoded hash Verify cannot read.
var ErrMalformed = errors.New("password: malformed argon2id hash")

var b64 = base64.RawStdEncoding.Strict()

// Hash returns pw's argon2id hash with the Default parameters and a fresh
// random salt.
func Hash(pw string) (string, error) { return Default.Hash(pw) }

// Hash returns pw's argon2id hash with p and a fresh random salt.
func (p Params) Hash(pw string) (string, error) {
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: reading randomness: %v", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether pw matches encoded, comparing in constant time.
// It returns ErrMalformed (and false) when encoded cannot be read.
func Verify(encoded, pw string) (bool, error) {
	p, salt, want, err := Decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Decode splits an encoded hash into its parameters, salt and key. It is
// strict: one exact layout, canonical numbers, parameters within bounds.
func Decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrMalformed
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, ErrMalformed
	}
	m, ok1 := number(kv[0], "m=", maxMemory)
	t, ok2 := number(kv[1], "t=", maxTime)
	th, ok3 := number(kv[2], "p=", maxThreads)
	if !ok1 || !ok2 || !ok3 || m < minMemory || t < 1 || th < 1 {
		return p, nil, nil, ErrMalformed
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < minSalt || len(salt) > maxSalt || len(key) < minKey || len(key) > maxKey {
		return p, nil, nil, ErrMalformed
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th), SaltLen: len(salt), KeyLen: len(key)}
	return p, salt, key, nil
}

// number reads "prefix<n>" with n canonical decimal and at most max.
func number(s, prefix string, max uint64) (uint64, bool) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n > max {
		return 0, false
	}
	return n, true
}

func (p Params) check() error {
	if p.Memory < minMemory || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime ||
		p.Threads < 1 || p.Threads > maxThreads || p.SaltLen < minSalt || p.SaltLen > maxSalt ||
		p.KeyLen < minKey || p.KeyLen > maxKey {
		return fmt.Errorf("password: argon2id parameters out of bounds: %+v", p)
	}
	return nil
}
