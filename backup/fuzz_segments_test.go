package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/iluxsys/steward/internal/repo"
	"github.com/iluxsys/steward/internal/snapshot"
	"github.com/iluxsys/steward/storage"
)

// segmentChain is an encrypted snapshot whose segment list the fuzz
// target replaces: the engine, the manifest and repository, the genuine
// segment IDs in order and the entries they hold.
type segmentChain struct {
	e       *Engine
	r       *repo.Repo
	m       *manifest
	segs    []string
	content string // the ID of a file-content chunk
	want    []File
}

// newSegmentChain backs up enough files for several segments.
func newSegmentChain(ctx context.Context) (*segmentChain, error) {
	e, err := New(storage.NewMemory(), &Config{Keys: PassphraseWithOptions("p", PassphraseOptions{Time: 1, MemoryKiB: 1024, Threads: 1})})
	if err != nil {
		return nil, err
	}
	snap, err := e.Backup(ctx, "acme", FSSource(manyFiles(120, nil)), &Options{Type: Full, Encrypt: true})
	if err != nil {
		return nil, err
	}
	c := &segmentChain{e: e}
	if c.m, c.r, err = e.manifest(ctx, "acme", snap.ID); err != nil {
		return nil, err
	}
	if !c.r.Encrypted() || c.m.Format != 2 {
		return nil, fmt.Errorf("snapshot: encrypted %v, format %d; want an encrypted format-2 snapshot", c.r.Encrypted(), c.m.Format)
	}
	if c.segs, err = e.entryChunks(ctx, c.r, c.m); err != nil {
		return nil, err
	}
	if len(c.segs) < 3 {
		return nil, fmt.Errorf("%d segments; want several", len(c.segs))
	}
	for f, err := range e.Files(ctx, "acme", snap.ID) {
		if err != nil {
			return nil, err
		}
		c.want = append(c.want, f)
		if c.content == "" && len(f.Chunks) > 0 {
			c.content = f.Chunks[0].ID
		}
	}
	return c, nil
}

// list builds segment-list bytes from picks: a byte below 0xf0 names
// genuine segment b % len(segs); the bytes above name an unknown chunk, a
// content chunk, the segment list's own chunk, an upper-case or
// unterminated segment ID, or an empty line.
func (c *segmentChain) list(picks []byte) []byte {
	var b strings.Builder
	unknown := sha256.Sum256([]byte("no such chunk"))
	for _, p := range picks {
		switch {
		case p < 0xf0:
			b.WriteString(c.segs[int(p)%len(c.segs)] + "\n")
		case p == 0xf0:
			b.WriteString(hex.EncodeToString(unknown[:]) + "\n")
		case p == 0xf1:
			b.WriteString(c.content + "\n")
		case p == 0xf2:
			b.WriteString(c.m.Tree[0] + "\n") // a list naming a list
		case p == 0xf3:
			b.WriteString(strings.ToUpper(c.segs[0]) + "\n")
		case p == 0xf4:
			b.WriteString(c.segs[0])
		default:
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}

// plant stores list as the segment list of a new snapshot (as one chunk,
// or two cut at split, named twice when twice is set), sealed with the
// repository's keys like any manifest, and returns its ID.
func (c *segmentChain) plant(ctx context.Context, list []byte, split uint16, twice bool) (string, error) {
	pieces := [][]byte{list}
	if cut := int(split); cut > 0 && cut < len(list) {
		pieces = [][]byte{list[:cut], list[cut:]}
	}
	s := c.r.NewSaver(ctx, 1)
	var tree []string
	for _, p := range pieces {
		if len(p) == 0 {
			continue
		}
		id := c.r.ChunkID(p)
		if _, err := s.Save(id, p, true); err != nil {
			return "", err
		}
		tree = append(tree, id.String())
	}
	if err := s.Flush(); err != nil {
		return "", err
	}
	if twice {
		tree = append(tree, tree...)
	}
	m := *c.m
	m.ID = uuid.NewString()
	m.Tree = tree
	m.Checksums = map[string]string{}
	for k, v := range c.m.Checksums {
		m.Checksums[k] = v
	}
	m.Checksums["manifest"] = manifestChecksum(&m)
	body, err := json.Marshal(&m)
	if err != nil {
		return "", err
	}
	return m.ID, c.r.SaveSnapshot(ctx, m.ID, body)
}

// FuzzSegmentChain replaces a snapshot's segment list with crafted lists
// (genuine segments duplicated, reordered or left out, unknown chunks, a
// content chunk or the list itself named as a segment, malformed lines,
// raw bytes), sealed with the repository's keys so that only the chain is
// in question, and reads the snapshot through Engine.Files. The genuine
// list gives back the genuine entries; any other list ends with an error
// matching ErrCorrupt or ErrNotFound, and every entry yielded before it
// has a valid path, comes after the one before in walk order, and is an
// entry of the genuine snapshot.
func FuzzSegmentChain(f *testing.F) {
	ctx := MasterContext()
	c, err := newSegmentChain(ctx)
	if err != nil {
		f.Fatal(err)
	}
	n := len(c.segs)
	genuine := make([]byte, n)
	for i := range genuine {
		genuine[i] = byte(i)
	}
	byPath := map[string]File{}
	for _, w := range c.want {
		byPath[w.Path] = w
	}
	f.Add(genuine, []byte{}, uint16(0), false)
	f.Add(genuine, []byte{}, uint16(65), false) // cut after the first ID
	f.Add(genuine, []byte{}, uint16(30), false) // cut inside an ID
	f.Add(genuine[:n-1], []byte{}, uint16(0), false)
	f.Add(genuine[1:], []byte{}, uint16(0), false)
	f.Add([]byte{}, []byte{}, uint16(0), false)
	for _, p := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5} {
		f.Add(append([]byte{p}, genuine[1:]...), []byte{}, uint16(0), false) // in place of the first
	}
	f.Add(genuine, []byte("zz\n"), uint16(0), false)
	f.Add(genuine, []byte(c.segs[0][:63]+"\n"), uint16(0), false)

	f.Fuzz(func(t *testing.T, picks, tail []byte, split uint16, twice bool) {
		if len(picks) > 512 || len(tail) > 4096 {
			return // an overlong list says nothing more than a long one
		}
		list := append(c.list(picks), tail...)
		id, err := c.plant(ctx, list, split, twice)
		if err != nil {
			t.Fatalf("plant a segment list: %v", err)
		}
		var got []File
		var ferr error
		for file, err := range c.e.Files(ctx, "acme", id) {
			if err != nil {
				ferr = err
				break
			}
			got = append(got, file)
		}
		if ferr != nil && !errors.Is(ferr, ErrCorrupt) && !errors.Is(ferr, ErrNotFound) {
			t.Fatalf("Files: got error %v, want one matching ErrCorrupt or ErrNotFound", ferr)
		}
		for i, file := range got {
			if err := snapshot.ValidatePath(file.Path); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			if i > 0 && snapshot.SortKey(got[i-1].Path, got[i-1].Mode) >= snapshot.SortKey(file.Path, file.Mode) {
				t.Fatalf("entry %d %q follows %q: entries out of walk order or repeated (list %q, twice %v)", i, file.Path, got[i-1].Path, list, twice)
			}
			w, ok := byPath[file.Path]
			if !ok || w.SHA256 != file.SHA256 || w.Size != file.Size {
				t.Fatalf("entry %d %q is not an entry of the snapshot", i, file.Path)
			}
		}
		if string(list) == string(c.list(genuine)) && !twice {
			if ferr != nil {
				t.Fatalf("the genuine segment list: %v", ferr)
			}
			if len(got) != len(c.want) {
				t.Fatalf("the genuine segment list gave %d entries, want %d", len(got), len(c.want))
			}
		}
	})
}
