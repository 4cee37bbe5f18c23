package itest

import (
	"net/http"
	"strings"
	"testing"
)

func getText(t *testing.T, base, path string) string {
	t.Helper()
	a := get(t, base, path)
	if a.status != 200 {
		t.Fatalf("GET %s: %d %s", path, a.status, a.body)
	}
	return string(a.body)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func callNoFail(url string, _ any) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
