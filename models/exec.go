package models

import (
	"context"
	"fmt"
)

// Exec runs one administrative statement (such as CREATE DATABASE for test
// fixtures) on the mirror's connection.
func (s *Store) Exec(ctx context.Context, stmt string, args ...any) error {
	if err := s.db.WithContext(ctx).Exec(stmt, args...).Error; err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	return nil
}
