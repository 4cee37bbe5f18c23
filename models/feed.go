package models

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// FeedOptions tune a Feed; zero values take the defaults.
type FeedOptions struct {
	// Interval is how often the poller reads new transitions (250ms).
	Interval time.Duration
	// Grace is how long a transition whose id is above a missing one is
	// held back, waiting for the missing row's transaction to commit,
	// before the missing id is taken for a rolled-back or burnt one (2s).
	Grace time.Duration
	// Batch bounds the rows one poll reads (500); a full batch is followed
	// by another read in the same tick.
	Batch int
	// Buffer is each subscriber's queue (256). A subscriber whose queue is
	// full is dropped; it re-reads what it missed from the database.
	Buffer int
}

// Feed is one process's shared view of new transitions: a single poller
// reads the transition log by its increasing primary key and fans the
// rows out to every subscriber, so a thousand open event streams cost one
// query per tick, not a thousand. The mirror is written by workers in
// other processes, so the database is the only place to learn of changes.
//
// Rows are published in id order and never skip a committed row that was
// committed within Grace of the rows above it: MySQL hands out
// auto-increment ids at insert time, not at commit, so id 11 can become
// visible before id 10. The poller holds every row above a missing id
// until the gap fills or Grace passes. The poller runs only while someone
// is subscribed.
type Feed struct {
	store *Store
	o     FeedOptions
	polls atomic.Int64

	mu      sync.Mutex
	subs    map[*Subscription]struct{}
	running bool
	cursor  uint64               // every id <= cursor is published or given up
	held    map[uint64]time.Time // first sight of rows held behind a gap
	lastErr error
}

// Subscription receives the feed's transitions that match its filter, in
// id order, from just above From.
type Subscription struct {
	ch      chan Transition
	match   func(*Transition) bool
	from    uint64
	dropped atomic.Bool
}

// C delivers the transitions; it is closed when the subscriber is dropped
// for falling behind (Dropped reports true) or unsubscribed.
func (s *Subscription) C() <-chan Transition { return s.ch }

// From is the feed's watermark when the subscription began: every
// transition with a greater id reaches C, every one at or below it must
// be read from the store (TransitionsAfter) if wanted.
func (s *Subscription) From() uint64 { return s.from }

// Dropped reports whether the feed dropped this subscriber because its
// queue was full.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

// NewFeed makes a feed over the store's transition log. Nothing runs
// until the first Subscribe.
func (s *Store) NewFeed(o FeedOptions) *Feed {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	if o.Buffer <= 0 {
		o.Buffer = 256
	}
	return &Feed{store: s, o: o, subs: map[*Subscription]struct{}{}, held: map[uint64]time.Time{}}
}

// Subscribe starts receiving new transitions that match (nil: all). It
// starts the poller if it is not running, at the log's current end.
func (f *Feed) Subscribe(ctx context.Context, match func(*Transition) bool) (*Subscription, error) {
	if match == nil {
		match = func(*Transition) bool { return true }
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running {
		end, err := f.store.LastTransitionID(ctx, "")
		if err != nil {
			return nil, wrap("subscribe to transitions", err)
		}
		f.cursor, f.held, f.running = end, map[uint64]time.Time{}, true
		go f.run()
	}
	sub := &Subscription{ch: make(chan Transition, f.o.Buffer), match: match, from: f.cursor}
	f.subs[sub] = struct{}{}
	return sub, nil
}

// Unsubscribe stops delivery to sub and closes its channel. It is safe to
// call more than once and after the feed dropped sub.
func (f *Feed) Unsubscribe(sub *Subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.subs[sub]; ok {
		delete(f.subs, sub)
		close(sub.ch)
	}
}

// Polls counts the poller's reads of the transition log.
func (f *Feed) Polls() int64 { return f.polls.Load() }

// Err is the last poll's error, nil once a poll succeeds again.
func (f *Feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastErr
}

func (f *Feed) run() {
	t := time.NewTicker(f.o.Interval)
	defer t.Stop()
	for range t.C {
		f.mu.Lock()
		if len(f.subs) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		for f.poll() {
		}
	}
}

// poll reads and publishes one batch; it reports whether the batch was
// full and published to its end, so another read may find more at once.
func (f *Feed) poll() bool {
	f.mu.Lock()
	cursor := f.cursor
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.polls.Add(1)
	var rows []Transition
	err := f.store.db.WithContext(ctx).Where("id > ?", cursor).Order("id").Limit(f.o.Batch).Find(&rows).Error
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = err
	if err != nil {
		f.lastErr = fmt.Errorf("poll transitions: %w", err)
		return false
	}
	now := time.Now()
	published := 0
	for i := range rows {
		r := &rows[i]
		if r.ID != f.cursor+1 {
			first, seen := f.held[r.ID]
			if !seen {
				f.held[r.ID] = now
				first = now
			}
			if now.Sub(first) < f.o.Grace {
				break
			}
		}
		f.cursor = r.ID
		published++
		for sub := range f.subs {
			if !sub.match(r) {
				continue
			}
			select {
			case sub.ch <- *r:
			default:
				sub.dropped.Store(true)
				delete(f.subs, sub)
				close(sub.ch)
			}
		}
	}
	for id := range f.held {
		if id <= f.cursor {
			delete(f.held, id)
		}
	}
	return len(rows) == f.o.Batch && published == len(rows)
}

// LastTransitionID is the id of the latest logged transition of a run (of
// the whole log when runID is empty), 0 when there is none: a stream
// resuming after it misses nothing logged later, and replays nothing older.
func (s *Store) LastTransitionID(ctx context.Context, runID string) (uint64, error) {
	var id *uint64
	db := s.db.WithContext(ctx).Model(&Transition{})
	if runID != "" {
		db = db.Where("run_id = ?", runID)
	}
	if err := db.Select("MAX(id)").Scan(&id).Error; err != nil {
		return 0, wrap("last transition id", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// TransitionFilter picks transitions by run and entity; empty fields
// match everything.
type TransitionFilter struct {
	RunID  string
	Entity string
}

// Match reports whether t passes the filter, for Feed.Subscribe.
func (f TransitionFilter) Match(t *Transition) bool {
	return (f.RunID == "" || t.RunID == f.RunID) && (f.Entity == "" || t.Entity == f.Entity)
}

// TransitionsAfter returns up to limit transitions matching f with ids in
// (after, upTo], in id order: what a subscriber missed before its feed
// subscription's From.
func (s *Store) TransitionsAfter(ctx context.Context, f TransitionFilter, after, upTo uint64, limit int) ([]Transition, error) {
	out := []Transition{}
	db := s.db.WithContext(ctx).Where("id > ? AND id <= ?", after, upTo)
	if f.RunID != "" {
		db = db.Where("run_id = ?", f.RunID)
	}
	if f.Entity != "" {
		db = db.Where("entity = ?", f.Entity)
	}
	if err := db.Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, wrap("transitions after", err)
	}
	return out, nil
}

// LastRunTransition returns the run's latest run-entity transition;
// ErrNotFound when it has none.
func (s *Store) LastRunTransition(ctx context.Context, runID string) (*Transition, error) {
	var t Transition
	err := s.db.WithContext(ctx).Where("run_id = ? AND entity = ?", runID, "run").
		Order("id DESC").Take(&t).Error
	if err != nil {
		return nil, wrap("last run transition", err)
	}
	return &t, nil
}
