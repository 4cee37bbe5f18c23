package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// ChunkOptions tune a ChunkWriter; zero values take the defaults.
type ChunkOptions struct {
	ChunkSize  int           // largest chunk handed to flush; default 64 KiB
	FlushEvery time.Duration // a partial chunk is flushed this often; default 1 s
	Cap        int64         // bytes kept before truncation; default 10 MiB
}

// Defaults of ChunkOptions.
const (
	DefaultChunkSize  = 64 << 10
	DefaultFlushEvery = time.Second
	DefaultLogCap     = 10 << 20
)

// bufferedChunks bounds memory: at most this many chunks wait for flush
// before Write blocks.
const bufferedChunks = 4

// flushAttempts and flushBackoff bound the retries of one chunk, so that a
// log store outage delays the task by seconds, not forever.
var (
	flushAttempts = 3
	flushBackoff  = 100 * time.Millisecond
)

// ErrChunkWriterClosed is returned by Write after Close.
var ErrChunkWriterClosed = errors.New("write to closed ChunkWriter")

// ChunkWriter buffers output and hands it to flush in chunks (at most
// ChunkSize bytes, or whatever is buffered every FlushEvery), keeping memory
// bounded whatever the producer writes; past Cap bytes it writes one visible
// marker line and discards the rest, still counting it.
//
// flush runs on a background goroutine, one call at a time, with seq 0, 1, 2…
// and offset the position of data in the stored log. It may keep data. A
// failing flush is retried a few times; a chunk that still fails is dropped
// (the store sees a gap in offsets) and the first error is returned by
// Close. After such a failure later chunks get a single attempt each until
// one succeeds, so a dead store cannot slow the producer down to a crawl.
// flush must return eventually: while it hangs, Write blocks once the bounded
// buffer is full.
type ChunkWriter struct {
	flush func(seq int, offset int64, data []byte) error
	opts  ChunkOptions

	mu        sync.Mutex
	space     *sync.Cond // signalled when the flusher took chunks or stopped
	full      [][]byte   // complete chunks waiting for flush
	cur       []byte     // the chunk being filled
	kept      int64      // bytes accepted into the stored log (marker excluded)
	written   int64      // bytes received, discarded ones included
	truncated bool
	closed    bool
	err       error // first chunk that could not be flushed

	kick chan struct{} // wakes the flusher when a chunk is complete
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the flusher has finished
}

// NewChunkWriter starts the background flusher; call Close to stop it.
func NewChunkWriter(flush func(seq int, offset int64, data []byte) error, opts ChunkOptions) *ChunkWriter {
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.Cap <= 0 {
		opts.Cap = DefaultLogCap
	}
	w := &ChunkWriter{
		flush: flush,
		opts:  opts,
		kick:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	w.space = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// TruncationMarker is the line that replaces output beyond cap bytes.
func TruncationMarker(limit int64) string {
	return fmt.Sprintf("\n[baton] log truncated: output exceeded %d bytes\n", limit)
}

// Write accepts p, blocking only while the bounded buffer is full.
func (w *ChunkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrChunkWriterClosed
	}
	w.written += int64(len(p))
	if w.truncated {
		return len(p), nil
	}
	keep := p
	if room := w.opts.Cap - w.kept; int64(len(keep)) > room {
		keep = keep[:room]
	}
	if err := w.append(keep); err != nil {
		return len(p) - len(keep), err
	}
	w.kept += int64(len(keep))
	if len(keep) < len(p) {
		w.truncated = true
		if err := w.append([]byte(TruncationMarker(w.opts.Cap))); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// append copies p into chunks, waiting for the flusher when bufferedChunks
// are already pending. Called with w.mu held.
func (w *ChunkWriter) append(p []byte) error {
	for len(p) > 0 {
		for len(w.full) >= bufferedChunks {
			if w.closed {
				return ErrChunkWriterClosed
			}
			w.space.Wait()
		}
		if w.cur == nil {
			w.cur = make([]byte, 0, w.opts.ChunkSize)
		}
		n := min(len(p), w.opts.ChunkSize-len(w.cur))
		w.cur = append(w.cur, p[:n]...)
		p = p[n:]
		if len(w.cur) == w.opts.ChunkSize {
			w.full = append(w.full, w.cur)
			w.cur = nil
			select {
			case w.kick <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// Written is the number of bytes received in total, discarded ones included.
func (w *ChunkWriter) Written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Close flushes what is buffered, stops the flusher and returns the first
// flush error. Later calls return the same error.
func (w *ChunkWriter) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.quit)
		w.space.Broadcast()
	}
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *ChunkWriter) run() {
	defer close(w.done)
	t := time.NewTicker(w.opts.FlushEvery)
	defer t.Stop()
	var (
		seq      int
		offset   int64
		degraded bool
	)
	send := func(c []byte) {
		if err := w.flushChunk(seq, offset, c, degraded); err != nil {
			degraded = true
			w.mu.Lock()
			if w.err == nil {
				w.err = fmt.Errorf("flush log chunk %d at offset %d: %w", seq, offset, err)
			}
			w.mu.Unlock()
		} else {
			degraded = false
		}
		seq++
		offset += int64(len(c))
	}
	for {
		partial := false
		stopping := false
		select {
		case <-w.kick:
		case <-t.C:
			partial = true
		case <-w.quit:
			stopping = true
		}
		for c := w.take(partial || stopping); c != nil; c = w.take(partial || stopping) {
			send(c)
		}
		if stopping {
			return
		}
	}
}

// take removes the oldest complete chunk or, with partial and none
// complete, the chunk being filled. One at a time, so that the buffer bound
// also covers the chunk being flushed.
func (w *ChunkWriter) take(partial bool) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	var c []byte
	switch {
	case len(w.full) > 0:
		c = w.full[0]
		w.full[0] = nil
		w.full = w.full[1:]
	case partial && len(w.cur) > 0:
		c, w.cur = w.cur, nil
	default:
		return nil
	}
	w.space.Broadcast()
	return c
}

// flushChunk calls flush with retries, turning a panic into an error so that
// a buggy log store cannot take the worker down.
func (w *ChunkWriter) flushChunk(seq int, offset int64, data []byte, once bool) error {
	attempts := uint(flushAttempts)
	if once {
		attempts = 1
	}
	// No context: the chunk must land even after the instance's context
	// ended (a stop); the attempts bound it.
	b := &backoff.ExponentialBackOff{InitialInterval: flushBackoff, Multiplier: 2, MaxInterval: flushBackoff << flushAttempts}
	_, err := backoff.Retry(context.Background(), func() (struct{}, error) {
		return struct{}{}, w.safeFlush(seq, offset, data)
	}, backoff.WithBackOff(b), backoff.WithMaxTries(attempts), backoff.WithMaxElapsedTime(0))
	return err
}

func (w *ChunkWriter) safeFlush(seq int, offset int64, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("flush panicked: %v", r)
		}
	}()
	return w.flush(seq, offset, data)
}
