package alert

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Stored forms of a secret field.
const (
	envPrefix    = "env:"    // env:NAME: read from the process's environment at each use
	sealedPrefix = "enc:v1:" // AES-256-GCM, base64(nonce || ciphertext)
)

// ErrNoKey: a secret must be sealed or opened and no BATON_SECRET_KEY is
// configured.
var ErrNoKey = errors.New("BATON_SECRET_KEY is not set: set it on the API and the workers, or give secrets as env:NAME")

// KeySize is the length of BATON_SECRET_KEY once decoded (AES-256).
const KeySize = 32

// Sealer encrypts channel secrets for storage. A nil *Sealer has no key:
// it keeps env:NAME references and refuses literal secrets.
type Sealer struct {
	aead cipher.AEAD
}

// ParseKey decodes BATON_SECRET_KEY: 32 bytes as base64 (standard or URL
// alphabet, padded or not) or as 64 hex digits.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("the key decodes to %d bytes, want %d", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("the key is neither base64 nor hex of %d bytes (make one with: openssl rand -base64 32)", KeySize)
}

// GenerateKey makes a new random key in the form ParseKey reads.
func GenerateKey() (string, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate secret key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// NewSealer makes a sealer from a decoded key.
func NewSealer(key []byte) (*Sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// seal encrypts plaintext; field is authenticated with it, so a sealed
// value copied into another field does not open.
func (s *Sealer) seal(field, plaintext string) (string, error) {
	if s == nil {
		return "", fmt.Errorf("%s: %w", field, ErrNoKey)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("%s: seal: %w", field, err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plaintext), []byte(field))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

func (s *Sealer) open(field, stored string) (string, error) {
	if s == nil {
		return "", fmt.Errorf("%s: %w", field, ErrNoKey)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(stored, sealedPrefix))
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("%s: the stored secret is damaged", field)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(field))
	if err != nil {
		return "", fmt.Errorf("%s: the stored secret does not open with this BATON_SECRET_KEY (was the key changed?)", field)
	}
	return string(plain), nil
}

// Seal replaces each literal secret of c with its sealed form; env:NAME
// references stay as they are. Values already sealed (kept from the
// stored channel on an update) are left alone.
func (s *Sealer) Seal(c *Channel) error {
	for _, f := range c.secrets() {
		if strings.HasPrefix(*f.value, envPrefix) || strings.HasPrefix(*f.value, sealedPrefix) {
			continue
		}
		sealed, err := s.seal(f.field, *f.value)
		if err != nil {
			return err
		}
		*f.value = sealed
	}
	return nil
}

// Open replaces each stored secret of c with its plaintext: sealed values
// are decrypted, env:NAME references read through lookup (os.LookupEnv
// in production).
func (s *Sealer) Open(c *Channel, lookup func(string) (string, bool)) error {
	for _, f := range c.secrets() {
		switch {
		case strings.HasPrefix(*f.value, envPrefix):
			name := strings.TrimPrefix(*f.value, envPrefix)
			v, ok := lookup(name)
			if !ok || v == "" {
				return fmt.Errorf("%s: environment variable %s is not set on this process", f.field, name)
			}
			*f.value = v
		case strings.HasPrefix(*f.value, sealedPrefix):
			v, err := s.open(f.field, *f.value)
			if err != nil {
				return err
			}
			*f.value = v
		default:
			return fmt.Errorf("%s: stored unsealed; save the channel again", f.field)
		}
	}
	return nil
}

// SecretsSet reports which secret fields of a stored channel are set, by
// field name ("webhook.secret"): what the API shows instead of them.
func SecretsSet(c *Channel) map[string]bool {
	out := map[string]bool{}
	for _, f := range c.secrets() {
		out[f.field] = true
	}
	return out
}

// SecretSource says where a stored secret lives: "env:NAME" for a
// reference (the name is not secret), "sealed" otherwise, "" when unset.
func SecretSource(stored string) string {
	switch {
	case stored == "":
		return ""
	case strings.HasPrefix(stored, envPrefix):
		return stored
	default:
		return "sealed"
	}
}
