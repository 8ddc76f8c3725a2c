package errs

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
)

type codeErr struct{ code int }

func (c *codeErr) Error() string { return "backup: code" }

func TestErrorfNamesEachLayerOnce(t *testing.T) {
	inner := errors.Join(errors.New("backup: open \"a\""), fs.ErrNotExist)
	err := Errorf("backup", "prune %q: %w", "acme", inner)
	require.Equal(t, "backup: prune \"acme\": open \"a\"\nfile does not exist", err.Error())
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, err, inner)

	// Another layer's prefix is kept.
	err = Errorf("restore", "snapshot %s: %w", "s1", err)
	require.Equal(t, "restore: snapshot s1: backup: prune \"acme\": open \"a\"\nfile does not exist", err.Error())

	var ce *codeErr
	err = Errorf("backup", "step: %w", &codeErr{code: 7})
	require.Equal(t, "backup: step: code", err.Error())
	require.ErrorAs(t, err, &ce)
	require.Equal(t, 7, ce.code)

	// Non-error arguments and nil errors are formatted as fmt does.
	require.Equal(t, "backup: x backup: y %!w(<nil>)", Errorf("backup", "x %s %w", "backup: y", nil).Error())
}
