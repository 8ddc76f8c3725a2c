package restore

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/storage"
)

// ErrDamaged: a restore with Options.ContinueOnError skipped files whose
// content could not be read whole; Report.Damaged lists them, and every
// other file was restored. The message counts them and names the first; the
// error also matches the first file's cause (backup.ErrCorrupt or
// backup.ErrNotFound).
var ErrDamaged = errors.New("restore: damaged files skipped")

// Damage is a file a restore with Options.ContinueOnError skipped.
type Damage struct {
	Path string `json:"path"`
	// Object is the key of the stored object at fault (the pack holding a
	// chunk that fails verification, or that is missing), or the scope's
	// prefix when the file as a whole fails (its size or SHA-256); empty
	// when the cause names no object (a chunk missing from the index: Err
	// names the chunk).
	Object string `json:"object,omitempty"`
	Err    string `json:"error"`

	cause error // Err's error, for errors.Is on ErrDamaged's error
}

// damaged tells whether err, from restoring one file, is the file's
// content failing to read whole (and not the target's or ctx's error).
func damaged(err error) bool {
	return errors.Is(err, backup.ErrCorrupt) || errors.Is(err, backup.ErrNotFound) || errors.Is(err, storage.ErrNotFound)
}

// damage describes the file at p that failed with err.
func damage(p string, err error) Damage {
	d := Damage{Path: p, Err: err.Error(), cause: err}
	var ce *repo.CorruptError
	var se *storage.Error
	switch {
	case errors.As(err, &ce):
		d.Object = ce.Key
	case errors.As(err, &se):
		d.Object = se.Key
	}
	return d
}

// damagedError returns the error matching ErrDamaged for rep's damaged
// files, sorting them by path, and matching the first one's cause.
func damagedError(rep *Report) error {
	slices.SortFunc(rep.Damaged, func(a, b Damage) int { return strings.Compare(a.Path, b.Path) })
	var names []string
	for _, d := range rep.Damaged[:min(len(rep.Damaged), maxListed)] {
		obj := d.Object
		if obj == "" {
			obj = "no object named"
		}
		names = append(names, fmt.Sprintf("%q (%s)", d.Path, obj))
	}
	more := ""
	if n := len(rep.Damaged) - len(names); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return errs.Errorf("restore", "%w: %d files of snapshot %s could not be read whole and were not restored: %s%s; %d files were restored. The first: %w",
		ErrDamaged, len(rep.Damaged), rep.SnapshotID, strings.Join(names, ", "), more, rep.FilesRestored, rep.Damaged[0].cause)
}
