package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/status"
)

type storedChunk struct {
	seq    int
	offset int64
	data   []byte
}

// memStore is a log store that keeps every chunk it is given.
type memStore struct {
	mu     sync.Mutex
	chunks []storedChunk
}

func (s *memStore) flush(seq int, offset int64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks = append(s.chunks, storedChunk{seq, offset, data})
	return nil
}

func (s *memStore) snapshot() []storedChunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]storedChunk(nil), s.chunks...)
}

// contents checks that chunks arrived in order and contiguously, and joins them.
func (s *memStore) contents(t *testing.T) []byte {
	t.Helper()
	var out []byte
	for i, c := range s.snapshot() {
		if c.seq != i || c.offset != int64(len(out)) {
			t.Fatalf("chunk %d has seq %d offset %d, want seq %d offset %d", i, c.seq, c.offset, i, len(out))
		}
		out = append(out, c.data...)
	}
	return out
}

func TestChunkWriterBoundariesOrderOffsets(t *testing.T) {
	store := &memStore{}
	w := NewChunkWriter(store.flush, ChunkOptions{ChunkSize: 10, FlushEvery: time.Hour})
	var input bytes.Buffer
	for i, piece := range []string{"abc", "defghijklm", "n", "", "opqrstuvwxyz0123456789ABC", "DE"} {
		n, err := w.Write([]byte(piece))
		if err != nil || n != len(piece) {
			t.Fatalf("write %d: n=%d err=%v", i, n, err)
		}
		input.WriteString(piece)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	chunks := store.snapshot()
	wantLens := []int{10, 10, 10, 10, 1} // 41 bytes
	if len(chunks) != len(wantLens) {
		t.Fatalf("%d chunks, want %d: %+v", len(chunks), len(wantLens), chunks)
	}
	for i, c := range chunks {
		if len(c.data) != wantLens[i] {
			t.Errorf("chunk %d has %d bytes, want %d", i, len(c.data), wantLens[i])
		}
	}
	if got := store.contents(t); !bytes.Equal(got, input.Bytes()) {
		t.Errorf("stored %q, want %q", got, input.Bytes())
	}
	if w.Written() != int64(input.Len()) {
		t.Errorf("Written = %d, want %d", w.Written(), input.Len())
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, ErrChunkWriterClosed) {
		t.Errorf("write after Close: %v", err)
	}
}

func TestChunkWriterFlushesPartialChunkPeriodically(t *testing.T) {
	store := &memStore{}
	w := NewChunkWriter(store.flush, ChunkOptions{ChunkSize: 1 << 20, FlushEvery: 50 * time.Millisecond})
	defer w.Close()
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(store.snapshot()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a partial chunk was never flushed before Close")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := string(store.contents(t)); got != "hello" {
		t.Errorf("stored %q", got)
	}
}

func TestChunkWriterCapAndMarker(t *testing.T) {
	store := &memStore{}
	w := NewChunkWriter(store.flush, ChunkOptions{ChunkSize: 16, FlushEvery: time.Hour, Cap: 100})
	var input bytes.Buffer
	for i := 0; input.Len() < 250; i++ {
		p := []byte(fmt.Sprintf("%06d|", i))
		input.Write(p)
		if n, err := w.Write(p); err != nil || n != len(p) {
			t.Fatalf("write: n=%d err=%v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := string(input.Bytes()[:100]) + "\n[baton] log truncated: output exceeded 100 bytes\n"
	if got := string(store.contents(t)); got != want {
		t.Errorf("stored\n%q\nwant\n%q", got, want)
	}
	if w.Written() != int64(input.Len()) {
		t.Errorf("Written = %d, want %d", w.Written(), input.Len())
	}
	for _, c := range store.snapshot() {
		if len(c.data) > 16 {
			t.Errorf("chunk %d has %d bytes, more than ChunkSize", c.seq, len(c.data))
		}
	}
}

func TestChunkWriterRetriesFlushErrors(t *testing.T) {
	oldBackoff := flushBackoff
	flushBackoff = time.Millisecond
	defer func() { flushBackoff = oldBackoff }()

	t.Run("transient errors are retried", func(t *testing.T) {
		store := &memStore{}
		var calls atomic.Int64
		flaky := func(seq int, offset int64, data []byte) error {
			if calls.Add(1)%3 != 0 { // two failures before every success
				return errors.New("store unavailable")
			}
			return store.flush(seq, offset, data)
		}
		w := NewChunkWriter(flaky, ChunkOptions{ChunkSize: 4, FlushEvery: time.Hour})
		if _, err := w.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close = %v, want nil after successful retries", err)
		}
		if got := string(store.contents(t)); got != "0123456789" {
			t.Errorf("stored %q", got)
		}
	})
	t.Run("persistent errors are recorded and do not block", func(t *testing.T) {
		boom := errors.New("store is down")
		var calls atomic.Int64
		w := NewChunkWriter(func(int, int64, []byte) error { calls.Add(1); return boom },
			ChunkOptions{ChunkSize: 1024, FlushEvery: time.Hour})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 1000; i++ {
				_, _ = w.Write(bytes.Repeat([]byte("x"), 1024)) // a blocked or closed writer is what this checks
			}
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("writes blocked behind a failing store")
		}
		err := w.Close()
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "chunk 0") {
			t.Errorf("Close = %v, want the first flush error", err)
		}
		if n := calls.Load(); n < 1000 || n > 1000+int64(flushAttempts) {
			t.Errorf("%d flush calls for 1000 chunks: retries should stop while the store keeps failing", n)
		}
		if w.Written() != 1000*1024 {
			t.Errorf("Written = %d", w.Written())
		}
	})
	t.Run("panicking flush", func(t *testing.T) {
		w := NewChunkWriter(func(int, int64, []byte) error { panic("bad store") }, ChunkOptions{})
		if _, err := w.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err == nil || !strings.Contains(err.Error(), "bad store") {
			t.Errorf("Close = %v", err)
		}
	})
}

func TestChunkWriterBlocksOnlyWhileBufferFull(t *testing.T) {
	release := make(chan struct{})
	store := &memStore{}
	var inFlight atomic.Int64
	slow := func(seq int, offset int64, data []byte) error {
		inFlight.Add(1)
		<-release
		return store.flush(seq, offset, data)
	}
	const chunk = 1000
	w := NewChunkWriter(slow, ChunkOptions{ChunkSize: chunk, FlushEvery: time.Hour})
	total := 50 * chunk
	var accepted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total/100; i++ {
			n, _ := w.Write(bytes.Repeat([]byte{'a' + byte(i%26)}, 100))
			accepted.Add(int64(n))
		}
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("all writes returned although flush never did: the buffer is unbounded")
	default:
	}
	// One chunk in flush, bufferedChunks complete ones, one being filled.
	if a := accepted.Load(); a > int64((bufferedChunks+2)*chunk) {
		t.Errorf("%d bytes accepted while flush was stuck, more than the bound", a)
	}
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes still blocked after flush resumed")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := store.contents(t); len(got) != total {
		t.Errorf("stored %d bytes, want %d", len(got), total)
	}
}

// TestFiftyMegabytesThroughExecute pushes 50 MB of real process output
// through the executor into a ChunkWriter and checks that only the cap is
// kept and memory stays bounded while it streams.
func TestFiftyMegabytesThroughExecute(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB of output")
	}
	store := &memStore{}
	w := NewChunkWriter(store.flush, ChunkOptions{})
	const total = 50_000_000

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peakHeap, peakSys atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peakHeap.Load() {
				peakHeap.Store(m.HeapInuse)
			}
			if m.Sys > peakSys.Load() {
				peakSys.Store(m.Sys)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	req := newReq(t, shellTask(fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x", total)), nil)
	req.Log = w
	res := Execute(context.Background(), req)
	close(stopSampling)
	<-sampled
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if res.Status != status.InstanceSuccess {
		t.Fatalf("result = %+v", res)
	}

	got := store.contents(t)
	want := strings.Repeat("x", DefaultLogCap) + TruncationMarker(DefaultLogCap)
	if string(got) != want {
		t.Errorf("stored %d bytes (ends %q), want the %d-byte cap plus the marker", len(got), tail(got), DefaultLogCap)
	}
	// Baton's own notes could add a few bytes after the output.
	if n := w.Written(); n < total || n > total+1024 {
		t.Errorf("Written = %d, want about %d", n, total)
	}
	heapGrowth := int64(peakHeap.Load()) - int64(before.HeapInuse)
	sysGrowth := int64(peakSys.Load()) - int64(before.Sys)
	t.Logf("peak heap growth %.1f MB, sys growth %.1f MB", float64(heapGrowth)/1e6, float64(sysGrowth)/1e6)
	if heapGrowth > 30<<20 {
		t.Errorf("heap grew by %d bytes while streaming 50 MB: memory is not bounded", heapGrowth)
	}
	if sysGrowth > 40<<20 {
		t.Errorf("process memory grew by %d bytes while streaming 50 MB", sysGrowth)
	}
}

func tail(b []byte) []byte {
	if len(b) > 80 {
		return b[len(b)-80:]
	}
	return b
}
