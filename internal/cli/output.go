package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
	"sigs.k8s.io/yaml"
)

// Output formats of -o.
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

func validOutput(o string) error {
	switch o {
	case outTable, outJSON, outYAML:
		return nil
	}
	return &usageError{fmt.Errorf("-o must be table, json or yaml, got %q", o)}
}

// printRaw prints an API answer as JSON (indented) or YAML.
func printRaw(w io.Writer, format string, raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	switch format {
	case outYAML:
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return fmt.Errorf("render YAML: %w", err)
		}
		_, err = w.Write(y)
		return err
	default:
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("render JSON: %w", err)
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
}

// printValue prints a value the CLI computed (a diff) as JSON or YAML.
func printValue(w io.Writer, format string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return printRaw(w, format, raw)
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(headers) > 0 {
		t.row(toAny(headers)...)
	}
	return t
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// row writes one line; tabs and newlines inside a cell would break the
// columns, so they become spaces.
func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		s := fmt.Sprint(c)
		parts[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// fields prints key: value lines, aligned.
func fields(w io.Writer, kv ...any) error {
	t := newTable(w)
	for i := 0; i+1 < len(kv); i += 2 {
		t.row(fmt.Sprint(kv[i])+":", kv[i+1])
	}
	return t.flush()
}

// ts renders a time for a table: local, to the second; "-" when unset.
func ts(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// span renders how long something took or has been running.
func span(from, to *time.Time, now time.Time) string {
	if from == nil {
		return "-"
	}
	end := now
	if to != nil {
		end = *to
	}
	return roundDuration(end.Sub(*from)).String()
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(time.Second)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to n runes for a table cell.
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// isTerminal says whether w is a terminal, for the live display.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is w's width in columns, 80 when unknown.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
			return width
		}
	}
	return 80
}
