// Package auth is Sluice's built-in user database for SMTP AUTH: a file of
// "user:hash" lines with bcrypt or argon2id hashes, and the map of the
// sender addresses each user may use.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are the cost parameters of a new argon2id hash.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultArgon2 is OWASP's first argon2id configuration (19 MiB, 2 passes,
// 1 lane): a login costs tens of milliseconds and little memory, so
// concurrent AUTH attempts cannot exhaust the server's memory.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// DefaultBcryptCost is the bcrypt cost of a new hash.
const DefaultBcryptCost = 12

// Bounds on the parameters a stored argon2id hash may ask for, so that one
// bad line cannot make every login allocate gigabytes.
const (
	maxArgon2Memory = 1 << 20 // KiB: 1 GiB
	maxArgon2Time   = 64
)

const (
	saltLen = 16
	keyLen  = 32
)

// ErrBadHash is returned for a hash that is neither bcrypt nor argon2id.
var ErrBadHash = errors.New("unsupported password hash (want bcrypt $2a$/$2b$/$2y$ or $argon2id$)")

// HashArgon2id returns the PHC string of password:
// $argon2id$v=19$m=M,t=T,p=P$SALT$KEY (unpadded base64).
func HashArgon2id(password string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// HashBcrypt returns the bcrypt hash of password.
func HashBcrypt(password string, cost int) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(h), err
}

// CheckHash reports whether the hash is a supported, well-formed one.
func CheckHash(hash string) error {
	switch {
	case isBcrypt(hash):
		_, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return fmt.Errorf("bad bcrypt hash: %v", err)
		}
		return nil
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2(hash)
		return err
	}
	return ErrBadHash
}

// Verify reports whether password matches hash. A malformed hash matches
// nothing.
func Verify(hash, password string) bool {
	switch {
	case isBcrypt(hash):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	case strings.HasPrefix(hash, "$argon2id$"):
		a, err := parseArgon2(hash)
		if err != nil {
			return false
		}
		key := argon2.IDKey([]byte(password), a.salt, a.p.Time, a.p.Memory, a.p.Threads, uint32(len(a.key)))
		return subtle.ConstantTimeCompare(key, a.key) == 1
	}
	return false
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

type argon2Hash struct {
	p         Argon2Params
	salt, key []byte
}

// parseArgon2 reads the PHC string format
// (https://github.com/P-H-C/phc-string-format), as written by the argon2
// reference implementation and libsodium.
func parseArgon2(h string) (argon2Hash, error) {
	var a argon2Hash
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return a, errors.New("bad argon2id hash: want $argon2id$v=19$m=M,t=T,p=P$SALT$KEY")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return a, fmt.Errorf("bad argon2id hash: version %q, want v=%d", parts[2], argon2.Version)
	}
	var m, t, p uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) != parts[3] {
		return a, fmt.Errorf("bad argon2id parameters %q", parts[3])
	}
	if m < 8*p || m > maxArgon2Memory || t < 1 || t > maxArgon2Time || p < 1 || p > 255 {
		return a, fmt.Errorf("argon2id parameters %q out of range", parts[3])
	}
	a.p = Argon2Params{Memory: m, Time: t, Threads: uint8(p)}
	var err error
	if a.salt, err = decodeB64(parts[4]); err != nil || len(a.salt) < 8 {
		return a, errors.New("bad argon2id salt")
	}
	if a.key, err = decodeB64(parts[5]); err != nil || len(a.key) < 16 || len(a.key) > 64 {
		return a, errors.New("bad argon2id key")
	}
	return a, nil
}

// decodeB64 takes base64 with or without padding.
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}
