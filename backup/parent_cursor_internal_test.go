package backup

import (
	"errors"
	"io/fs"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// parentList yields files as a parent's entry list, then err if not nil,
// and records in *stopped whether the consumer stopped it early.
func parentList(files []File, err error, stopped *bool) iter.Seq2[File, error] {
	return func(yield func(File, error) bool) {
		for _, f := range files {
			if !yield(f, nil) {
				*stopped = true
				return
			}
		}
		if err != nil {
			yield(File{}, err)
		}
	}
}

func TestParentCursorMatch(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	file := func(p string, size int64, mt time.Time) File {
		return File{Entry: Entry{Path: p, Size: size, Mode: 0o644, ModTime: mt}, SHA256: "sha-" + p,
			Chunks: []ChunkRef{{ID: "c-" + p, Size: size}}}
	}
	dir := func(p string) File { return File{Entry: Entry{Path: p, Mode: fs.ModeDir | 0o755}} }
	parent := []File{
		dir("a"), file("a/1", 10, t0), file("a/2", 20, t0), file("a/3", 30, t0),
		file("b", 5, t0), file("c", 7, t0), file("d", 1, t0),
	}
	type step struct {
		en   Entry
		want bool // the parent's entry matches
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"all unchanged", []step{
			{file("a/1", 10, t0).Entry, true}, {file("a/2", 20, t0).Entry, true}, {file("a/3", 30, t0).Entry, true},
			{file("b", 5, t0).Entry, true}, {file("c", 7, t0).Entry, true}, {file("d", 1, t0).Entry, true},
		}},
		{"changed size, mode or mtime", []step{
			{file("a/1", 11, t0).Entry, false},
			{Entry{Path: "a/2", Size: 20, Mode: 0o600, ModTime: t0}, false},
			{file("a/3", 30, t0.Add(time.Nanosecond)).Entry, false},
			{file("b", 5, t0).Entry, true},
		}},
		{"mtime in another zone", []step{{file("a/1", 10, t0.In(time.FixedZone("x", 3600))).Entry, true}}},
		{"files gone from the walk are skipped", []step{{file("a/3", 30, t0).Entry, true}, {file("d", 1, t0).Entry, true}}},
		{"new files between", []step{
			{file("a/0", 1, t0).Entry, false}, {file("a/1", 10, t0).Entry, true}, {file("a/25", 1, t0).Entry, false},
			{file("a/3", 30, t0).Entry, true}, {file("bb", 5, t0).Entry, false}, {file("c", 7, t0).Entry, true},
		}},
		{"changed file, then the next one", []step{{file("b", 6, t0).Entry, false}, {file("c", 7, t0).Entry, true}}},
		{"a file where the parent had a directory", []step{{file("a", 0, t0).Entry, false}, {file("b", 5, t0).Entry, true}}},
		{"past the parent's end", []step{{file("d", 1, t0).Entry, true}, {file("e", 1, t0).Entry, false}, {file("f", 1, t0).Entry, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stopped bool
			c := newParentCursor(parentList(parent, nil, &stopped))
			for _, s := range tt.steps {
				got, ok, err := c.match(s.en)
				require.NoError(t, err, "match(%q)", s.en.Path)
				require.Equal(t, s.want, ok, "match(%q): got %v, want %v", s.en.Path, ok, s.want)
				if ok {
					require.Equal(t, "sha-"+s.en.Path, got.SHA256, "match(%q): the parent's entry", s.en.Path)
					require.Equal(t, []ChunkRef{{ID: "c-" + s.en.Path, Size: s.en.Size}}, got.Chunks)
				}
			}
			c.close()
			_, ok, err := c.match(file("z", 1, t0).Entry)
			require.NoError(t, err)
			require.False(t, ok, "a closed cursor matches nothing")
		})
	}
}

func TestParentCursorError(t *testing.T) {
	boom := errors.New("boom")
	var stopped bool
	f := File{Entry: Entry{Path: "a", Size: 1, Mode: 0o644}}
	c := newParentCursor(parentList([]File{f}, boom, &stopped))
	defer c.close()
	_, ok, err := c.match(f.Entry)
	require.NoError(t, err)
	require.True(t, ok)
	_, _, err = c.match(Entry{Path: "b", Size: 1, Mode: 0o644})
	require.ErrorIs(t, err, boom, "an error reading the parent's list is returned")
}

func TestParentCursorStops(t *testing.T) {
	var stopped bool
	files := []File{{Entry: Entry{Path: "a", Mode: 0o644}}, {Entry: Entry{Path: "b", Mode: 0o644}}}
	c := newParentCursor(parentList(files, nil, &stopped))
	_, ok, err := c.match(files[0].Entry)
	require.NoError(t, err)
	require.True(t, ok)
	c.close()
	require.True(t, stopped, "close stops the parent's iterator")
}

func TestParentCursorNil(t *testing.T) {
	var c *parentCursor
	_, ok, err := c.match(Entry{Path: "a", Mode: 0o644})
	require.NoError(t, err)
	require.False(t, ok, "no parent matches nothing")
	c.close()
}
