package backup

import (
	"io/fs"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBelowFiles(t *testing.T) {
	file, dir := fs.FileMode(0o644), fs.ModeDir|0o755
	for _, c := range []struct {
		name    string
		entries []Entry
		bad     string // the entry refused, "" for none
	}{
		{"file then its child", []Entry{{Path: "a", Mode: file}, {Path: "a/b", Mode: file}}, "a/b"},
		{"siblings between", []Entry{{Path: "a", Mode: file}, {Path: "a-x", Mode: file}, {Path: "a.b", Mode: file}, {Path: "a/b", Mode: dir}}, "a/b"},
		{"deeper", []Entry{{Path: "m", Mode: dir}, {Path: "m/f", Mode: file}, {Path: "m/f-1", Mode: file}, {Path: "m/f/x", Mode: file}}, "m/f/x"},
		{"a directory then its child", []Entry{{Path: "a", Mode: dir}, {Path: "a/b", Mode: file}, {Path: "a0", Mode: file}}, ""},
		{"file, then a later sibling's child", []Entry{{Path: "a", Mode: file}, {Path: "a-x", Mode: dir}, {Path: "a-x/y", Mode: file}, {Path: "b/c", Mode: file}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b belowFiles
			bad := ""
			for _, e := range c.entries {
				if err := b.check(e); err != nil {
					bad = e.Path
					require.Contains(t, err.Error(), "not a directory")
					break
				}
			}
			require.Equal(t, c.bad, bad)
			require.LessOrEqual(t, len(b.stack), 3)
		})
	}
}
