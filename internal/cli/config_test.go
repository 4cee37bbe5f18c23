package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestSaveConfigIsOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "config.yaml")
	// A file that exists with wider permissions must not keep them.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("addr: old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveConfig(path, fileConfig{Addr: "http://h:8080", Token: "bt_secret"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("config mode %o, want 600", mode)
	}
	got, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr != "http://h:8080" || got.Token != "bt_secret" {
		t.Errorf("loaded %+v", got)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".config-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	fresh := filepath.Join(dir, "new", "baton", "config.yaml")
	if err := saveConfig(fresh, fileConfig{Addr: "a", Token: "b"}); err != nil {
		t.Fatal(err)
	}
	di, err := os.Stat(filepath.Dir(fresh))
	if err != nil {
		t.Fatal(err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Errorf("new config directory mode %o, want 700", mode)
	}
}

func TestConfigPath(t *testing.T) {
	if p, _ := configPath(env(map[string]string{envConfig: "/x/c.yaml", "XDG_CONFIG_HOME": "/xdg"})); p != "/x/c.yaml" {
		t.Errorf("BATON_CONFIG ignored: %s", p)
	}
	if p, _ := configPath(env(map[string]string{"XDG_CONFIG_HOME": "/xdg"})); p != "/xdg/baton/config.yaml" {
		t.Errorf("XDG path %s", p)
	}
}

func TestResolveTargetPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := saveConfig(path, fileConfig{Addr: "file:1", Token: "file-token"}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{envConfig: path}
	addr, token, err := resolveTarget(env(vars), "", "")
	if err != nil || addr != "http://file:1" || token != "file-token" {
		t.Errorf("from file: %s %s %v", addr, token, err)
	}
	vars[envAddr], vars[envToken] = "https://env:2/", "env-token"
	addr, token, _ = resolveTarget(env(vars), "", "")
	if addr != "https://env:2" || token != "env-token" {
		t.Errorf("env must override the file: %s %s", addr, token)
	}
	addr, token, _ = resolveTarget(env(vars), "flag:3", "flag-token")
	if addr != "http://flag:3" || token != "flag-token" {
		t.Errorf("flags must override env: %s %s", addr, token)
	}

	_, _, err = resolveTarget(env(map[string]string{envConfig: filepath.Join(t.TempDir(), "none.yaml")}), "", "")
	var usage *usageError
	if !errors.As(err, &usage) {
		t.Errorf("no address anywhere: %v, want a usage error", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("adr: typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := resolveTarget(env(map[string]string{envConfig: bad}), "", ""); err == nil {
		t.Error("a config file with an unknown key must be reported")
	}
}
