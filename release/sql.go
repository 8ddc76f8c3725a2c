package release

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/iluxsys/steward/internal/errs"
)

// ErrChecksumMismatch: an applied migration's SQL was edited since.
var ErrChecksumMismatch = errors.New("release: applied migration was edited")

// SQLMigrator applies migrations to a database/sql database, one
// transaction per migration, recording each in a versions table (id,
// release, checksum of its SQL, applied_at). A migration already recorded
// with the same checksum is skipped; one recorded with another checksum
// (its SQL was edited after it ran) stops everything with
// ErrChecksumMismatch. A failing migration rolls back its own transaction —
// the database is as it was before it — and returns a *MigrationError.
// Revert runs backward twins and deletes their rows. SQL dialects that do
// not make DDL transactional (MySQL) only get per-statement atomicity.
type SQLMigrator struct {
	DB *sql.DB
	// Table holds the applied versions (default "steward_migrations").
	Table string
	// Clock stamps applied_at (default time.Now).
	Now func() time.Time
}

func (s *SQLMigrator) table() string {
	if s.Table == "" {
		return "steward_migrations"
	}
	return s.Table
}

func (s *SQLMigrator) init(ctx context.Context) error {
	_, err := s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.table()+` (
		id TEXT PRIMARY KEY, release TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)`)
	return err
}

func checksum(sqlText string) string {
	sum := sha256.Sum256([]byte(sqlText))
	return hex.EncodeToString(sum[:])
}

// Applied returns the checksum of every applied migration by ID.
func (s *SQLMigrator) Applied(ctx context.Context) (map[string]string, error) {
	if err := s.init(ctx); err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT id, checksum FROM `+s.table())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, sum string
		if err := rows.Scan(&id, &sum); err != nil {
			return nil, err
		}
		out[id] = sum
	}
	return out, rows.Err()
}

// Apply runs ms in order.
func (s *SQLMigrator) Apply(ctx context.Context, ms []Migration) error {
	applied, err := s.Applied(ctx)
	if err != nil {
		return errs.Errorf("release", "read applied migrations: %w", err)
	}
	for _, m := range ms {
		if sum, ok := applied[m.ID]; ok {
			if sum != checksum(m.SQL) {
				return &MigrationError{ID: m.ID, Err: fmt.Errorf("%w: its SQL changed after it was applied", ErrChecksumMismatch)}
			}
			continue
		}
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO `+s.table()+` (id, release, checksum, applied_at) VALUES (?, ?, ?, ?)`,
				m.ID, m.Release, checksum(m.SQL), now().UTC().Format(time.RFC3339Nano))
			return err
		})
		if err != nil {
			return &MigrationError{ID: m.ID, Err: err}
		}
	}
	return nil
}

// Revert runs backward migrations in order, each in a transaction that
// also deletes the row of its forward twin; migrations not applied are
// skipped.
func (s *SQLMigrator) Revert(ctx context.Context, ms []Migration) error {
	applied, err := s.Applied(ctx)
	if err != nil {
		return errs.Errorf("release", "read applied migrations: %w", err)
	}
	for _, m := range ms {
		if _, ok := applied[m.ID]; !ok {
			continue
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM `+s.table()+` WHERE id = ?`, m.ID)
			return err
		})
		if err != nil {
			return &MigrationError{ID: m.ID, Err: fmt.Errorf("backward: %w", err)}
		}
	}
	return nil
}

func (s *SQLMigrator) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
