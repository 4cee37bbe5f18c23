package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// readChunks is how many chunks ReadLog loads per query, so a long read
// streams through memory instead of loading a whole log.
const readChunks = 32

// AppendLog stores one chunk of an instance's output that starts at byte
// offset. Workers resend chunks after failures, so a chunk whose (instance,
// seq) is already stored is ignored.
func (s *Store) AppendLog(ctx context.Context, instanceID string, seq int, offset int64, data []byte) error {
	const op = "append log"
	if instanceID == "" || offset < 0 {
		return fmt.Errorf("%s: instance %q offset %d: %w", op, instanceID, offset, ErrInvalid)
	}
	if data == nil {
		data = []byte{} // NULL would make the chunk's length unknown
	}
	grew := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		c := LogChunk{InstanceID: instanceID, Seq: seq, Offset: offset, Data: data, CreatedAt: s.now()}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&c).Error; err != nil {
			return err
		}
		// Keep the instance's size current for listings; the guard keeps it
		// from shrinking when chunks arrive out of order. Without an
		// instance row yet this changes nothing, and LogSize still answers
		// from the chunks.
		end := offset + int64(len(data))
		res := tx.Model(&Instance{}).Where("id = ? AND log_size < ?", instanceID, end).UpdateColumn("log_size", end)
		grew = res.RowsAffected > 0
		return res.Error
	})
	if err == nil && grew {
		// An ended run's cached detail shows the old size. Bumped after the
		// commit (a reader that sees the new ChangeSeq reads the new size),
		// and only for ended runs: an open run's answers are not cached,
		// and the write that ends it bumps it. Outside the transaction, so
		// the log path never holds an instance lock while it waits for the
		// run row a mirror batch holds (those take the run row first); and
		// by primary key, not through a subquery, which InnoDB would run as
		// a locking read.
		var runID string
		err = s.db.WithContext(ctx).Model(&Instance{}).Select("run_id").Where("id = ?", instanceID).Scan(&runID).Error
		if err == nil && runID != "" {
			err = s.db.WithContext(ctx).Exec("UPDATE runs SET change_seq = change_seq + 1 WHERE id = ? AND status IN ?",
				runID, terminalRunStatuses()).Error
		}
	}
	return wrap(op, err)
}

// ReadLog returns up to maxBytes of an instance's output from offset
// (maxBytes <= 0: to the end), joining chunks in seq order. Past the end it
// returns an empty slice.
func (s *Store) ReadLog(ctx context.Context, instanceID string, offset int64, maxBytes int) ([]byte, error) {
	const op = "read log"
	if offset < 0 {
		offset = 0
	}
	db := s.db.WithContext(ctx)
	// Start at the last chunk beginning at or before offset rather than
	// scanning every earlier chunk: live tails read near the end.
	var start *int
	err := db.Model(&LogChunk{}).Select("MAX(seq)").
		Where("instance_id = ? AND `offset` <= ?", instanceID, offset).Scan(&start).Error
	if err != nil {
		return nil, wrap(op, err)
	}
	from := 0
	if start != nil {
		from = *start
	}
	out := []byte{}
	pos := offset
	first := true
	for {
		var chunks []LogChunk
		q := db.Where("instance_id = ?", instanceID)
		if first {
			q = q.Where("seq >= ?", from)
		} else {
			q = q.Where("seq > ?", from)
		}
		if err := q.Order("seq").Limit(readChunks).Find(&chunks).Error; err != nil {
			return nil, wrap(op, err)
		}
		first = false
		for _, c := range chunks {
			from = c.Seq
			end := c.Offset + int64(len(c.Data))
			if end <= pos {
				continue // wholly before offset, or a resend overlapping what we have
			}
			// A gap (a chunk that never arrived) is skipped, not invented.
			skip := max(pos-c.Offset, 0)
			part := c.Data[skip:]
			if maxBytes > 0 && len(out)+len(part) > maxBytes {
				part = part[:maxBytes-len(out)]
			}
			out = append(out, part...)
			pos = c.Offset + skip + int64(len(part))
			if maxBytes > 0 && len(out) >= maxBytes {
				return out, nil
			}
		}
		if len(chunks) < readChunks {
			return out, nil
		}
	}
}

// LogSize is the end of an instance's output as stored so far.
func (s *Store) LogSize(ctx context.Context, instanceID string) (int64, error) {
	var size int64
	err := s.db.WithContext(ctx).Model(&LogChunk{}).Select("COALESCE(MAX(`offset` + LENGTH(data)), 0)").
		Where("instance_id = ?", instanceID).Scan(&size).Error
	if err != nil {
		return 0, wrap("log size", err)
	}
	return size, nil
}
