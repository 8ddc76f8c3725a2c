package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// BackupVersion is recorded in every manifest as metadata.backup_version.
const BackupVersion = "steward-backup/1"

// manifest is the stored form of a snapshot: the catalog's Snapshot plus
// the reference to its entry list.
type manifest struct {
	Snapshot
	Format int `json:"format"`
	// Tree lists, in order, the chunk IDs of the segment list (format 2:
	// one segment chunk ID per line, the segments holding the entries; see
	// segments.go) or of the entry list itself (format 1).
	Tree []string `json:"tree"`
}

func decodeManifest(b []byte) (*manifest, error) {
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.Format != 1 && m.Format != 2 {
		return nil, fmt.Errorf("manifest format %d is not supported", m.Format)
	}
	if m.ID == "" || (m.Type != Full && m.Type != Incremental) {
		return nil, fmt.Errorf("manifest lacks an ID or has type %q", m.Type)
	}
	for _, id := range m.Tree {
		if len(id) != 64 {
			return nil, fmt.Errorf("manifest has a bad entry list chunk ID %q", id)
		}
	}
	return &m, nil
}

// ManifestChecksum returns the SHA-256 (hex) of the manifest's JSON with
// checksums["manifest"] empty — the value stored under that key.
func manifestChecksum(m *manifest) string {
	c := *m
	c.Checksums = make(map[string]string, len(m.Checksums))
	for k, v := range m.Checksums {
		c.Checksums[k] = v
	}
	c.Checksums["manifest"] = ""
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fileLine is one line of the stored entry list.
//
// Paths and link targets are Go strings, which may hold any bytes; JSON
// strings hold only UTF-8 (encoding/json replaces invalid bytes with
// U+FFFD), so a path or target that is not valid UTF-8 is stored in base64
// instead: PB replaces P (which is then empty, so a reader from before PB
// refuses the entry rather than restoring it under a mangled name) and LB
// replaces L. HL names the first path of a hard-linked regular file on
// its second and later paths (Entry.HardLinkTo), HLB replacing it when it
// is not valid UTF-8; such an entry keeps its own chunks, so a reader
// from before HL restores it as a copy. Every field added since the first
// format is omitted when empty: entry lists written before decode
// unchanged.
type fileLine struct {
	P   string   `json:"p"`
	PB  []byte   `json:"pb,omitempty"` // path, when not valid UTF-8
	S   int64    `json:"s"`
	M   uint32   `json:"m"`
	T   int64    `json:"t"` // mtime, Unix nanoseconds
	H   string   `json:"h,omitempty"`
	C   []string `json:"c,omitempty"`   // chunk IDs
	Z   []int64  `json:"z,omitempty"`   // chunk sizes
	L   string   `json:"l,omitempty"`   // symbolic link target
	LB  []byte   `json:"lb,omitempty"`  // link target, when not valid UTF-8
	HL  string   `json:"hl,omitempty"`  // hard link: the file's first path
	HLB []byte   `json:"hlb,omitempty"` // first path, when not valid UTF-8
}

// path returns the entry's path, decoded from PB when it is set.
func (l *fileLine) path() string {
	if l.PB != nil {
		return string(l.PB)
	}
	return l.P
}

func (l *fileLine) file() (File, error) {
	p := l.path()
	if len(l.C) != len(l.Z) {
		return File{}, fmt.Errorf("entry %q: %d chunk IDs but %d sizes", p, len(l.C), len(l.Z))
	}
	f := File{Entry: Entry{Path: p, Size: l.S, Mode: fs.FileMode(l.M), ModTime: mtimeOf(l.T)}, SHA256: l.H}
	f.LinkTarget = l.L
	if l.LB != nil {
		f.LinkTarget = string(l.LB)
	}
	if f.Mode&fs.ModeSymlink != 0 {
		if f.LinkTarget == "" || strings.IndexByte(f.LinkTarget, 0) >= 0 {
			return File{}, fmt.Errorf("entry %q: a symbolic link needs a target without NUL, has %q", p, f.LinkTarget)
		}
		if f.Size != 0 || len(l.C) > 0 {
			return File{}, fmt.Errorf("entry %q: a symbolic link holds no content, has %d bytes", p, f.Size)
		}
	} else if f.LinkTarget != "" {
		return File{}, fmt.Errorf("entry %q: has a link target but mode %v", p, f.Mode)
	}
	if f.HardLinkTo = l.HL; l.HLB != nil {
		f.HardLinkTo = string(l.HLB)
	}
	if f.HardLinkTo != "" && !f.Mode.IsRegular() {
		return File{}, fmt.Errorf("entry %q: only a regular file is a hard link, has mode %v", p, f.Mode)
	}
	if err := checkHardLink(f.Entry); err != nil {
		return File{}, fmt.Errorf("entry %w", err)
	}
	var total int64
	for i, id := range l.C {
		f.Chunks = append(f.Chunks, ChunkRef{ID: id, Size: l.Z[i]})
		total += l.Z[i]
	}
	if f.Mode.IsRegular() && total != f.Size {
		return File{}, fmt.Errorf("entry %q: chunks hold %d bytes, size says %d", p, total, l.S)
	}
	return f, nil
}

func lineOf(f *File) fileLine {
	l := fileLine{P: f.Path, S: f.Size, M: uint32(f.Mode), T: mtimeNanos(f.ModTime), H: f.SHA256, L: f.LinkTarget}
	if !utf8.ValidString(l.P) {
		l.P, l.PB = "", []byte(f.Path)
	}
	if !utf8.ValidString(l.L) {
		l.L, l.LB = "", []byte(f.LinkTarget)
	}
	if l.HL = f.HardLinkTo; !utf8.ValidString(l.HL) {
		l.HL, l.HLB = "", []byte(f.HardLinkTo)
	}
	for _, c := range f.Chunks {
		l.C = append(l.C, c.ID)
		l.Z = append(l.Z, c.Size)
	}
	return l
}

// zeroMtime stands for the zero time.Time in the entry list: Unix
// nanoseconds cannot express it (sources such as fstest.MapFS and hosts'
// own Sources may leave ModTime unset), and without a stable encoding an
// incremental backup would see every such file as changed.
const zeroMtime = math.MinInt64

// mtimeNanos encodes a modification time for the entry list: Unix
// nanoseconds, clamped to what int64 holds, and zeroMtime for the zero time.
func mtimeNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return zeroMtime
	case t.Before(minMtime):
		return minMtime.UnixNano()
	case t.After(maxMtime):
		return maxMtime.UnixNano()
	}
	return t.UnixNano()
}

var (
	minMtime = time.Unix(0, math.MinInt64+1)
	maxMtime = time.Unix(0, math.MaxInt64)
)

func mtimeOf(n int64) time.Time {
	if n == zeroMtime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
