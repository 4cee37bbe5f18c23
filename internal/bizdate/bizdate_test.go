package bizdate

import (
	"slices"
	"strings"
	"testing"
)

func TestRange(t *testing.T) {
	cases := []struct {
		from, to, step string
		desc           bool
		want           []string
		err            string
	}{
		{"2024-02-27", "2024-03-01", "", false, []string{"2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"}, ""},
		{"2024-02-27", "2024-03-01", "1d", true, []string{"2024-03-01", "2024-02-29", "2024-02-28", "2024-02-27"}, ""},
		{"2026-01-01", "2026-01-20", "1w", false, []string{"2026-01-01", "2026-01-08", "2026-01-15"}, ""},
		{"2024-01-31", "2024-05-31", "1m", false, []string{"2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"}, ""},
		{"2026-01-01", "2026-01-01", "", false, []string{"2026-01-01"}, ""},
		{"2026-01-02", "2026-01-01", "", false, nil, "end is before the start"},
		{"2026-13-01", "2026-01-01", "", false, nil, "YYYY-MM-DD"},
		{"2026-01-01", "2026-01-05", "0d", false, nil, "step"},
		{"2026-01-01", "2026-01-05", "2h", false, nil, "step"},
		{"2000-01-01", "2026-01-01", "1d", false, nil, "more than"},
	}
	for _, c := range cases {
		got, err := Range(c.from, c.to, c.step, c.desc)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Range(%s,%s,%s): err %v, want %q", c.from, c.to, c.step, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("Range(%s,%s,%s,%v) = %v, %v; want %v", c.from, c.to, c.step, c.desc, got, err, c.want)
		}
	}
	three, err := Range("2023-01-01", "2025-12-31", "", false)
	if err != nil || len(three) != 1096 {
		t.Fatalf("three years: %d dates, %v", len(three), err)
	}
}
