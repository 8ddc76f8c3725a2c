package sourcetest

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/backup"
)

// listSource yields fixed entries; Open returns content of the given size
// unless short says otherwise.
type listSource struct {
	entries []backup.Entry
	short   string // path whose Open yields one byte less
}

func (l listSource) Walk(ctx context.Context, fn func(backup.Entry) error) error {
	for _, e := range l.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (l listSource) Open(ctx context.Context, p string) (io.ReadCloser, error) {
	for _, e := range l.entries {
		if e.Path == p {
			n := e.Size
			if p == l.short {
				n--
			}
			return io.NopCloser(strings.NewReader(strings.Repeat("x", int(n)))), nil
		}
	}
	return nil, fs.ErrNotExist
}

func dir(p string) backup.Entry { return backup.Entry{Path: p, Mode: fs.ModeDir | 0o755} }
func file(p string, n int64) backup.Entry {
	return backup.Entry{Path: p, Size: n, Mode: 0o644}
}

// The suite must catch each broken rule, or passing it means nothing.
func TestCheckCatchesBrokenSources(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  listSource
		want string
	}{
		{"valid", listSource{entries: []backup.Entry{dir("a"), file("a/x", 3), dir("a/y"), file("a/y/z", 0), file("b", 1)}}, ""},
		{"per-directory order is not lexical", listSource{entries: []backup.Entry{dir("a"), file("a/b", 1), file("a-b", 1)}}, "lexical path order"},
		{"duplicate", listSource{entries: []backup.Entry{file("a", 1), file("a", 1)}}, "lexical path order"},
		{"file before its directory", listSource{entries: []backup.Entry{file("m/x", 1)}}, "its directory"},
		{"short content", listSource{entries: []backup.Entry{file("a", 5)}, short: "a"}, "yielded 4 bytes"},
		{"symlink", listSource{entries: []backup.Entry{{Path: "l", Mode: fs.ModeSymlink | 0o777, LinkTarget: "../x"}}}, ""},
		{"symlink without a target", listSource{entries: []backup.Entry{{Path: "l", Mode: fs.ModeSymlink}}}, "without a target"},
		{"target on a file", listSource{entries: []backup.Entry{{Path: "l", Mode: 0o644, LinkTarget: "x"}}}, "link target"},
		{"pipe with a size", listSource{entries: []backup.Entry{{Path: "p", Mode: fs.ModeNamedPipe | 0o644, Size: 3}}}, "only regular files have content"},
		{"traversal", listSource{entries: []backup.Entry{file("../x", 1)}}, "'..'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(context.Background(), tc.src)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
