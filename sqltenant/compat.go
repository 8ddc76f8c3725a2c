package sqltenant

import (
	"errors"
	"fmt"
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
