package sqltenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// checkCompat returns every reason the tables of the backup's schema s
// named in restoring cannot be restored into the target's tables
// (current, by name) at the target's migration state mig, joined (each
// matching its sentinel with errors.Is), or nil.
func checkCompat(d dialect, s *Schema, restoring []*Table, current map[string]*tenantTable, mig *Migrations) error {
	var errs []error
	if err := checkMigrations(s.Migrations, mig); err != nil {
		errs = append(errs, err)
	}
	for _, bt := range restoring {
		tt := current[bt.Name]
		if tt == nil {
			errs = append(errs, fmt.Errorf("%w: table %q (excluded by the target's options, or not created by its migrations)", ErrMissingTable, bt.Name))
			continue
		}
		errs = append(errs, checkColumns(d, bt, &tt.Table)...)
	}
	return errors.Join(errs...)
}

// checkColumns compares one table's columns.
func checkColumns(d dialect, bt, tt *Table) []error {
	var errs []error
	if !slices.Equal(bt.PrimaryKey, tt.PrimaryKey) {
		errs = append(errs, fmt.Errorf("%w: %q: backed up with key %q, the target's is %q", ErrKeyChanged, bt.Name, bt.PrimaryKey, tt.PrimaryKey))
	}
	for _, bc := range bt.Columns {
		tc := tt.column(bc.Name)
		if tc == nil {
			errs = append(errs, fmt.Errorf("%w: %q.%q (%s)", ErrMissingColumn, bt.Name, bc.Name, bc.Type))
			continue
		}
		if why := d.compatible(bc.Type, tc.Type); why != "" {
			errs = append(errs, fmt.Errorf("%w: %q.%q: backed up as %s, the target's is %s: %s", ErrIncompatibleType, bt.Name, bc.Name, bc.Type, tc.Type, why))
		}
	}
	for _, tc := range tt.Columns {
		if bt.column(tc.Name) == nil && tc.NotNull && !tc.HasDefault {
			errs = append(errs, fmt.Errorf("%w: %q.%q is NOT NULL without a default, and the backup has no such column", ErrRequiredColumn, tt.Name, tc.Name))
		}
	}
	return errs
}

// checkMigrations refuses a backup holding a migration the target has
// not applied.
func checkMigrations(backup, target *Migrations) error {
	if backup == nil || len(backup.Applied) == 0 {
		return nil
	}
	have := map[string]bool{}
	if target != nil {
		for _, id := range target.Applied {
			have[id] = true
		}
	}
	var missing []string
	for _, id := range backup.Applied {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	tv := "none"
	if target != nil && target.Version != "" {
		tv = target.Version
	}
	return fmt.Errorf("%w: the backup is at migration %q, the target at %q and lacks %q: apply the migrations to the target first", ErrNewerMigrations, backup.Version, tv, missing)
}

// Compatible returns every reason the backup that s describes could not
// be restored whole into the target as it is now (missing tables and
// columns, incompatible types, required columns, newer migrations),
// joined, each matching its sentinel with errors.Is; nil when a restore
// would pass these checks. It reads the target's catalog in a read
// transaction and changes nothing: a drill or a host's pre-deploy check
// asks it before restoring.
func (t *Target) Compatible(ctx context.Context, s *Schema) error {
	tx, err := t.db.d.read(ctx)
	if err != nil {
		return err
	}
	defer tx.close()
	tables, mig, err := tenantTables(ctx, t.db.d, tx, &t.o, t.tenant)
	if err != nil {
		return err
	}
	current := map[string]*tenantTable{}
	for i := range tables {
		current[tables[i].Name] = &tables[i]
	}
	all := make([]*Table, len(s.Tables))
	for i := range s.Tables {
		all[i] = &s.Tables[i]
	}
	return checkCompat(t.db.d, s, all, current, mig)
}

// ReadSchema decodes a backup's metadata file (SchemaPath), as a host
// reads it from a snapshot to see what the backup holds.
func ReadSchema(r io.Reader) (*Schema, error) {
	var s Schema
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return nil, fmt.Errorf("sqltenant: the metadata %s is not valid: %w", SchemaPath, err)
	}
	return &s, nil
}
