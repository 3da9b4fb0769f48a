package password

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// cheap keeps the table tests fast; Default is exercised once below.
var cheap = Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestDefaultMeetsOWASP(t *testing.T) {
	if Default.Memory < 19*1024 || Default.Time < 2 || Default.Threads < 1 {
		t.Fatalf("Default %+v is below OWASP's argon2id minimum (m=19 MiB, t=2, p=1)", Default)
	}
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(h) {
		t.Fatalf("encoded hash %q is not in the PHC form", h)
	}
	if ok, err := Verify(h, "correct horse"); !ok || err != nil {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if ok, err := Verify(h, "correct horsE"); ok || err != nil {
		t.Fatalf("Verify(wrong) = %v, %v", ok, err)
	}
}

func TestHashVerify(t *testing.T) {
	for _, pw := range []string{"a", "pässwörd 🔑", strings.Repeat("x", 1024), "with\x00nul"} {
		h, err := cheap.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if len(pw) > 3 && strings.Contains(h, pw) {
			t.Fatalf("hash %q contains the password", h)
		}
		if ok, err := Verify(h, pw); !ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v", pw, ok, err)
		}
		for _, wrong := range []string{"", pw + " ", strings.ToUpper(pw) + "!", pw[:len(pw)-1]} {
			if ok, _ := Verify(h, wrong); ok {
				t.Errorf("Verify(hash of %q, %q) = true", pw, wrong)
			}
		}
	}
}

func TestSaltIsFresh(t *testing.T) {
	a, _ := cheap.Hash("same")
	b, _ := cheap.Hash("same")
	if a == b {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyHonoursEncodedParams(t *testing.T) {
	// A hash made with other parameters still verifies: they are read from
	// the encoding, not assumed.
	other := Params{Memory: 9 * 1024, Time: 3, Threads: 2, SaltLen: 24, KeyLen: 48}
	h, err := other.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	p, salt, key, err := Decode(h)
	if err != nil || p != other || len(salt) != 24 || len(key) != 48 {
		t.Fatalf("Decode = %+v, %d, %d, %v", p, len(salt), len(key), err)
	}
	if ok, err := Verify(h, "pw"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

func TestDecodeIsStrict(t *testing.T) {
	good, _ := cheap.Hash("pw")
	if _, _, _, err := Decode(good); err != nil {
		t.Fatalf("Decode(good) = %v", err)
	}
	salt := strings.Split(good, "$")[4]
	key := strings.Split(good, "$")[5]
	bad := []string{
		"",
		"pw",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=8192", "m=08192", 1),
		strings.Replace(good, "m=8192", "m=1", 1),
		strings.Replace(good, "m=8192", "m=99999999", 1),
		strings.Replace(good, "m=8192", "m=+8192", 1),
		strings.Replace(good, "t=1", "t=0", 1),
		strings.Replace(good, "t=1", "t=1000", 1),
		strings.Replace(good, "p=1", "p=0", 1),
		strings.Replace(good, ",p=1", "", 1),
		strings.Replace(good, "m=8192,t=1", "t=1,m=8192", 1),
		strings.Replace(good, salt, salt+"=", 1),
		strings.Replace(good, salt, "c2FsdA", 1), // 4 bytes: too short
		strings.Replace(good, key, key[:10], 1),
		strings.Replace(good, key, strings.ReplaceAll(key, "A", "-"), 1) + "-",
		good + "$",
		"$" + good,
	}
	for _, s := range bad {
		if _, _, _, err := Decode(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %v, want ErrMalformed", s, err)
		}
		if ok, err := Verify(s, "pw"); ok || err == nil {
			t.Errorf("Verify(%q) = %v, %v", s, ok, err)
		}
	}
}

func TestHashRejectsBadParams(t *testing.T) {
	for _, p := range []Params{
		{Memory: 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 8192, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 8192, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 8192, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 8192, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		if _, err := p.Hash("pw"); err == nil {
			t.Errorf("Hash with %+v succeeded", p)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := cheap.Hash("pw")
	f.Add(good)
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := Decode(s)
		if err != nil {
			return
		}
		if p.check() != nil || len(salt) != p.SaltLen || len(key) != p.KeyLen {
			t.Fatalf("Decode(%q) accepted out-of-bounds %+v", s, p)
		}
	})
}
