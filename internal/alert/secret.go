package alert

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
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

// Sealer encrypts channel secrets for storage. A nil *Sealer has no key:
// it keeps env:NAME references and refuses literal secrets.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer makes a sealer from a decoded key (config.ParseSecretKey).
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
		v := f.get()
		if strings.HasPrefix(v, envPrefix) || strings.HasPrefix(v, sealedPrefix) {
			continue
		}
		if f.field == "webhook.url" {
			c.Webhook.URLHost = HostOf(v)
		}
		sealed, err := s.seal(f.field, v)
		if err != nil {
			return err
		}
		f.set(sealed)
	}
	return nil
}

// Open replaces each stored secret of c with its plaintext: sealed values
// are decrypted, env:NAME references read through lookup (os.LookupEnv
// in production).
func (s *Sealer) Open(c *Channel, lookup func(string) (string, bool)) error {
	for _, f := range c.secrets() {
		stored := f.get()
		switch {
		case strings.HasPrefix(stored, envPrefix):
			name := strings.TrimPrefix(stored, envPrefix)
			v, ok := lookup(name)
			if !ok || v == "" {
				return fmt.Errorf("%s: environment variable %s is not set on this process", f.field, name)
			}
			f.set(v)
		case strings.HasPrefix(stored, sealedPrefix):
			v, err := s.open(f.field, stored)
			if err != nil {
				return err
			}
			f.set(v)
		default:
			return fmt.Errorf("%s: stored unsealed; save the channel again", f.field)
		}
	}
	return nil
}

// Redacted is a stored channel as the API shows it: every secret
// replaced by where it lives, "env:NAME" for a reference (the name is not
// secret) or "[sealed]", except the webhook URL, which keeps its scheme
// and host so that a list of channels can be told apart.
func Redacted(stored Channel) Channel {
	c := stored
	if w := stored.Webhook; w != nil {
		cw := *w
		cw.Headers = maps.Clone(w.Headers)
		c.Webhook = &cw
	}
	if e := stored.Email; e != nil {
		ce := *e
		c.Email = &ce
	}
	for _, f := range c.secrets() {
		if !strings.HasPrefix(f.get(), envPrefix) {
			f.set(SealedMark)
		}
	}
	return c
}

// KeepSealed lets an update carry "[sealed]" (what GET showed) for a
// secret it does not change: each such field takes the stored value.
func KeepSealed(c *Channel, stored Channel) error {
	old := map[string]string{}
	for _, f := range stored.secrets() {
		old[f.field] = f.get()
	}
	for _, f := range c.secrets() {
		if f.get() != SealedMark {
			continue
		}
		v, ok := old[f.field]
		if !ok {
			return fmt.Errorf("%s: %q keeps a stored secret, and the channel has none there", f.field, SealedMark)
		}
		f.set(v)
		if f.field == "webhook.url" && stored.Webhook != nil {
			c.Webhook.URLHost = stored.Webhook.URLHost
		}
	}
	return nil
}

// SealedMark stands for a sealed secret in what the API shows.
const SealedMark = "[sealed]"
