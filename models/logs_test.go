package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestLogs(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if err := s.ApplyMirror(ctx, MirrorBatch{RunID: "r", Instances: []InstanceUpdate{{ID: "i1", NodeID: "n", Status: "running", Rev: 1}}}); err != nil {
			t.Fatal(err)
		}
		read := func(id string, off int64, limit int) string {
			t.Helper()
			b, err := s.ReadLog(ctx, id, off, limit)
			if err != nil {
				t.Fatal(err)
			}
			if b == nil {
				t.Fatal("ReadLog returned nil, want an empty slice")
			}
			return string(b)
		}
		if got := read("i1", 0, 0); got != "" {
			t.Fatalf("empty log: %q", got)
		}
		if n, err := s.LogSize(ctx, "i1"); err != nil || n != 0 {
			t.Fatalf("empty size: %d %v", n, err)
		}
		// Chunk 1 arrives before chunk 0; chunk 0 is then resent with
		// different bytes, which must be ignored.
		for _, c := range []struct {
			seq  int
			off  int64
			data string
		}{{1, 6, "world\n"}, {0, 0, "hello "}, {0, 0, "XXXXXX"}, {2, 12, ""}} {
			if err := s.AppendLog(ctx, "i1", c.seq, c.off, []byte(c.data)); err != nil {
				t.Fatal(err)
			}
		}
		if got := read("i1", 0, 0); got != "hello world\n" {
			t.Fatalf("whole log: %q", got)
		}
		if got := read("i1", 3, 5); got != "lo wo" {
			t.Fatalf("slice across chunks: %q", got)
		}
		if got := read("i1", 6, 3); got != "wor" {
			t.Fatalf("slice at chunk start: %q", got)
		}
		if got := read("i1", -5, 2); got != "he" {
			t.Fatalf("negative offset: %q", got)
		}
		if got := read("i1", 12, 10); got != "" {
			t.Fatalf("at end: %q", got)
		}
		if got := read("i1", 500, 10); got != "" {
			t.Fatalf("past end: %q", got)
		}
		if n, err := s.LogSize(ctx, "i1"); err != nil || n != 12 {
			t.Fatalf("size: %d %v", n, err)
		}
		in, _ := s.GetInstance(ctx, "i1")
		if in.LogSize != 12 {
			t.Fatalf("instance log_size %d, want 12", in.LogSize)
		}
		// Logs may arrive before the engine records the instance.
		if err := s.AppendLog(ctx, "early", 0, 0, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if got := read("early", 0, 0); got != "x" {
			t.Fatalf("orphan log: %q", got)
		}
		if got := read("unknown", 0, 0); got != "" {
			t.Fatalf("unknown instance: %q", got)
		}
		if err := s.AppendLog(ctx, "", 0, 0, nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("no instance id: %v", err)
		}
	})
}

func TestLogManyChunks(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		// More chunks than ReadLog loads per query, of uneven sizes.
		var want bytes.Buffer
		for seq := range 3*readChunks + 5 {
			chunk := []byte(fmt.Sprintf("line %03d %s\n", seq, bytes.Repeat([]byte("z"), seq%7)))
			if err := s.AppendLog(ctx, "big", seq, int64(want.Len()), chunk); err != nil {
				t.Fatal(err)
			}
			want.Write(chunk)
		}
		all, err := s.ReadLog(ctx, "big", 0, 0)
		if err != nil || !bytes.Equal(all, want.Bytes()) {
			t.Fatalf("whole log differs (%v): %d bytes, want %d", err, len(all), want.Len())
		}
		size, err := s.LogSize(ctx, "big")
		if err != nil || size != int64(want.Len()) {
			t.Fatalf("size %d %v, want %d", size, err, want.Len())
		}
		// Page through it the way a follower does.
		var got []byte
		for off := int64(0); ; {
			b, err := s.ReadLog(ctx, "big", off, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 {
				break
			}
			if len(b) > 100 {
				t.Fatalf("read %d bytes, max 100", len(b))
			}
			got = append(got, b...)
			off += int64(len(b))
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("paged read differs: %d bytes, want %d", len(got), want.Len())
		}
		mid := int64(want.Len() / 2)
		tail, err := s.ReadLog(ctx, "big", mid, 0)
		if err != nil || !bytes.Equal(tail, want.Bytes()[mid:]) {
			t.Fatalf("tail from the middle differs (%v)", err)
		}
	})
}
