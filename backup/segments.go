package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/iluxsys/steward/internal/repo"
)

// Entry lists are stored in two levels (manifest format 2). The entries,
// one JSON line each, are cut into segments of about segmentAvg entries;
// each segment is a chunk. The segment IDs, one per line, form a second
// stream, content-defined-chunked like file content, whose chunk IDs are
// the manifest's Tree. A segment ends after an entry whose path hashes to a
// multiple of segmentAvg (with the scope's gear table as the key), so the
// cuts depend on the paths alone: a changed file rewrites its own segment
// and the segment list around its ID, an added or removed file its
// neighbours', and everything else dedups against the parent snapshot.
// Format 1 (before 2026-11-29) chunked the entry list itself by content,
// about 1 MiB per chunk, so a change to every hundredth file rewrote all of
// it; format 1 manifests are still read.
//
// Readers only concatenate segments, so the constants below are the
// writer's choice: changing them costs one rewrite of every segment at the
// first backup after the change, nothing else. Halving the average from 32
// to 16 entries made a full entry list 7 % larger (more, smaller chunks)
// and cut what 40 scattered changes in 4,000 files add to the store by 41 %
// (TestScatteredChangesRewriteFewSegments); segments dedup across
// snapshots, so the first cost is paid once and the second saved at every
// backup.
const (
	segmentAvg      = 16       // entries, on average (beyond segmentMin)
	segmentMin      = 4        // entries before a cut is considered
	segmentMaxBytes = 64 << 10 // a segment is cut here whatever its paths
)

// segmenter cuts encoded entry lines into segments, saves each and writes
// its ID to ids (the stream the caller chunks into the Tree).
type segmenter struct {
	save    func(id repo.ID, b []byte) error
	chunkID func([]byte) repo.ID
	seed    uint64
	ids     io.Writer
	buf     bytes.Buffer
	enc     *json.Encoder
	n       int
}

func newSegmenter(r *repo.Repo, ids io.Writer, save func(id repo.ID, b []byte) error) *segmenter {
	s := &segmenter{save: save, chunkID: r.ChunkID, seed: r.Gear()[0], ids: ids}
	s.enc = json.NewEncoder(&s.buf)
	return s
}

// add appends one entry and cuts the segment after it when its path says so.
func (s *segmenter) add(l *fileLine) error {
	if err := s.enc.Encode(l); err != nil {
		return err
	}
	s.n++
	if s.buf.Len() >= segmentMaxBytes || (s.n >= segmentMin && cutAfter(s.seed, l.path())) {
		return s.flush()
	}
	return nil
}

// flush saves the pending segment, if any. A segment longer than a chunk
// may be (one entry of a file with tens of thousands of chunks) is saved
// as several chunks: readers concatenate them all the same.
func (s *segmenter) flush() error {
	if s.n == 0 {
		return nil
	}
	for b := s.buf.Bytes(); len(b) > 0; {
		piece := b[:min(len(b), repo.MaxChunk)]
		b = b[len(piece):]
		id := s.chunkID(piece)
		if err := s.save(id, piece); err != nil {
			return err
		}
		if _, err := io.WriteString(s.ids, id.String()+"\n"); err != nil {
			return err
		}
	}
	s.buf.Reset()
	s.n = 0
	return nil
}

// cutAfter reports whether a segment ends after the entry at path: FNV-1a
// (64-bit) over the seed's eight bytes, then the path. Written out, not
// through hash/fnv, because the collector calls it once per entry and the
// hash.Hash interface would allocate a hasher and a copy of the path each
// time.
func cutAfter(seed uint64, path string) bool {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := range 8 {
		h = (h ^ (seed >> (8 * i) & 0xff)) * prime
	}
	for i := 0; i < len(path); i++ {
		h = (h ^ uint64(path[i])) * prime
	}
	return h%segmentAvg == 0
}

// parseSegmentIDs decodes a segment list: one 64-hex chunk ID per line.
func parseSegmentIDs(b []byte) ([]string, error) {
	var ids []string
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte{'\n'})
		if !ok {
			return nil, fmt.Errorf("segment list: last line unterminated")
		}
		id, err := repo.ParseID(string(line))
		if err != nil {
			return nil, fmt.Errorf("segment list: %w", err)
		}
		ids = append(ids, id.String())
		b = rest
	}
	return ids, nil
}
