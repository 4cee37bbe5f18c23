package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// Client environment variables. They belong to the client, not to a
// server role, so they live here rather than in internal/config.
const (
	envAddr   = "BATON_ADDR"
	envToken  = "BATON_TOKEN"
	envConfig = "BATON_CONFIG"
)

// fileConfig is what `baton login` stores.
type fileConfig struct {
	Addr  string `json:"addr"`
	Token string `json:"token"`
}

// configPath is $BATON_CONFIG, else config.yaml in the user's config
// directory ($XDG_CONFIG_HOME/baton, ~/.config/baton on Linux).
func configPath(getenv func(string) string) (string, error) {
	if p := getenv(envConfig); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		var err error
		if dir, err = os.UserConfigDir(); err != nil {
			return "", fmt.Errorf("find the config directory (set %s): %w", envConfig, err)
		}
	}
	return filepath.Join(dir, "baton", "config.yaml"), nil
}

// loadConfig reads the config file; a missing file is an empty config.
func loadConfig(path string) (fileConfig, error) {
	var c fileConfig
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return c, fmt.Errorf("read config %s: %w", path, err)
	}
	return c, nil
}

// saveConfig writes the config readable by its owner only. It goes through
// a temporary file renamed into place, so a file that existed with wider
// permissions never holds the new token, and a crash never leaves half a
// file.
func saveConfig(path string, c fileConfig) error {
	raw, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // a no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		_ = f.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// resolveTarget picks the address and token: flags, then the environment,
// then the config file.
func resolveTarget(getenv func(string) string, flagAddr, flagToken string) (addr, token string, err error) {
	path, err := configPath(getenv)
	if err != nil {
		return "", "", err
	}
	c, err := loadConfig(path)
	if err != nil {
		return "", "", err
	}
	addr = first(flagAddr, getenv(envAddr), c.Addr)
	token = first(flagToken, getenv(envToken), c.Token)
	if addr == "" {
		return "", "", &usageError{fmt.Errorf("no API address: run `baton login --addr URL --token T`, or set %s", envAddr)}
	}
	return normalizeAddr(addr), token, nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// normalizeAddr accepts host:port as well as a URL.
func normalizeAddr(a string) string {
	a = strings.TrimRight(strings.TrimSpace(a), "/")
	if !strings.Contains(a, "://") {
		a = "http://" + a
	}
	return a
}
