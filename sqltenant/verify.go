package sqltenant

import (
	"context"
	"crypto/sha256"
	"fmt"
)

// rowScanner is a writeTx that can also read rows as a snapshot does
// (SQLite's can): a replacing restore then reads back, inside its
// transaction, each table it loaded and compares the rows with the
// backup's, byte for byte, before committing.
type rowScanner interface {
	scan(ctx context.Context, s *scanSpec, fn func(row []value) error) error
}

// verifyTable reads the tenant's rows of bt back from tx in primary-key
// order, encodes them as a backup would, and fails with ErrMismatch
// unless the count and the SHA-256 are the metadata's: what the target
// holds now is what was backed up (no value converted by a column's
// type, no row lost or added). Engines whose writeTx cannot scan are
// not verified.
func verifyTable(ctx context.Context, tx writeTx, bt *Table, tt *tenantTable) error {
	sc, ok := tx.(rowScanner)
	if !ok {
		return nil
	}
	h := sha256.New()
	cols := bt.columnNames()
	enc, err := newEncoder(h, cols)
	if err != nil {
		return err
	}
	spec := &scanSpec{Table: bt, Columns: cols, Where: tt.where, Args: tt.args}
	if err := sc.scan(ctx, spec, enc.write); err != nil {
		return fmt.Errorf("sqltenant: verify table %q: %w", bt.Name, err)
	}
	if err := enc.close(); err != nil {
		return err
	}
	if sum := hexSum(h); enc.rows != bt.Rows || sum != bt.SHA256 {
		return fmt.Errorf("%w: table %q reads back as %d rows (SHA-256 %s), the backup's are %d (%s): the target's columns changed values on the way in",
			ErrMismatch, bt.Name, enc.rows, sum, bt.Rows, bt.SHA256)
	}
	return nil
}
