package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeDocumentsEveryConfigVariable keeps the README's configuration
// table in step with internal/config: every BATON_* variable the code reads
// must have a row.
func TestReadmeDocumentsEveryConfigVariable(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "internal", "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, m := range regexp.MustCompile(`"(BATON_[A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		if !slices.Contains(vars, m[1]) {
			vars = append(vars, m[1])
		}
	}
	if len(vars) < 5 {
		t.Fatalf("found only %d BATON_* variables in internal/config/config.go: %v", len(vars), vars)
	}
	var rows []string
	for l := range strings.Lines(string(readme)) {
		if strings.HasPrefix(l, "| `BATON_") {
			rows = append(rows, l)
		}
	}
	for _, v := range append(vars, "BATON_TEST_MYSQL_DSN") {
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, "| `"+v+"`") {
				found = true
			}
		}
		if !found {
			t.Errorf("README.md's configuration table has no row for %s", v)
		}
	}
}
