package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/iluxsys/steward/storage"
)

// Saver writes new chunks into packs for one backup. Save may be called from
// many goroutines; Flush uploads what remains and writes the index object
// that makes the session's chunks visible.
//
// Packs are assembled in temporary files (as restic does), not in memory:
// memory stays flat whatever the pack size, and an upload reads from a
// seekable file, so a retrying Store can replay it. At most two packs are
// open (one for file content, one for entry lists: SaveMeta) and maxUploads
// are uploading.
type Saver struct {
	r   *Repo
	ctx context.Context

	mu      sync.Mutex      // guards cur and pending
	cur     [2]*openPack    // by packKind
	pending map[ID]struct{} // saved in this session

	resMu   sync.Mutex  // guards done, started and err (uploaders never take mu)
	done    []IndexPack // uploaded packs, for the index object
	err     error
	started []string // keys of every pack whose upload started (Discard)

	uploads sync.WaitGroup
	slots   chan struct{}
	tmpDir  string

	// Scratch buffers, one per Save in flight, kept for the session: a
	// sync.Pool (emptied by each collection) and buffers grown to the
	// chunks they met made 40 MB of garbage on a 1 GiB backup, which let
	// the heap grow to twice its live size.
	scratchMu  sync.Mutex
	scratch    [][]byte
	scratchCap int

	newChunks   atomic.Int64
	storedBytes atomic.Int64

	metaMu  sync.Mutex
	metaIDs []ID // the IDs SaveMeta was given, up to maxHot (MetaIDs)

	force     bool // save even chunks the index has (repacking)
	noInstall bool // Flush does not add the new entries to the loaded index
}

// Repo returns the repository the session saves to.
func (s *Saver) Repo() *Repo { return s.r }

// NewChunks returns how many chunks the session stored.
func (s *Saver) NewChunks() int64 { return s.newChunks.Load() }

// StoredBytes returns the bytes the session wrote (packs and index).
func (s *Saver) StoredBytes() int64 { return s.storedBytes.Load() }

func (s *Saver) failed() error {
	s.resMu.Lock()
	defer s.resMu.Unlock()
	return s.err
}

// openPack is a pack being filled: in a file staged in the store (see
// storage.Stager), which becomes the pack without a copy, or else in a
// temporary file that is copied into the store.
type openPack struct {
	name    string
	f       *os.File
	staged  bool // f is unnamed and staged for the pack's key
	size    int64
	entries []PackEntry
}

// newPack opens a pack file: staged where the store can, else a temporary
// file in s.tmpDir (os.TempDir when empty).
func (s *Saver) newPack() (*openPack, error) {
	name := randomHex(16)
	if f, err := storage.Stage(s.r.store, s.r.PackKey(name)); err == nil {
		return &openPack{name: name, f: f, staged: true}, nil
	}
	f, err := os.CreateTemp(s.tmpDir, "steward-pack-*")
	if err != nil {
		return nil, fmt.Errorf("create temporary pack file: %w", err)
	}
	return &openPack{name: name, f: f}, nil
}

func (p *openPack) discard() {
	p.f.Close()
	if !p.staged {
		os.Remove(p.f.Name())
	}
}

// NewSaver starts a save session. maxUploads bounds concurrent pack uploads.
func (r *Repo) NewSaver(ctx context.Context, maxUploads int) *Saver {
	if maxUploads < 1 {
		maxUploads = 1
	}
	s := &Saver{r: r, ctx: ctx, pending: map[ID]struct{}{}, slots: make(chan struct{}, maxUploads)}
	// One scratch buffer per Save in flight, at most room for the largest
	// chunk compressed and sealed.
	s.scratchCap = scratchNeed(MaxChunk)
	return s
}

// scratchNeed is the room a Save of n plain bytes needs: zstd adds at most
// 3 bytes per 128 KiB block and an 18-byte frame header to data it cannot
// shrink, and sealing adds a nonce and a tag. Were it ever short, append
// would grow the buffer, and the larger one is kept.
func scratchNeed(n int) int { return sealedLen(n + n>>10 + 64) }

// minScratch is the smallest scratch buffer made: a session of small files
// (most tenants' configuration, say) never needs a chunk-sized one.
const minScratch = 64 << 10

// getScratch returns an empty scratch buffer with room for need bytes. A
// buffer too small for need is replaced by one of the next power of two
// (at most scratchCap), so a buffer grows a few times in a session, not
// with every larger chunk.
func (s *Saver) getScratch(need int) []byte {
	s.scratchMu.Lock()
	var b []byte
	if n := len(s.scratch); n > 0 {
		b = s.scratch[n-1]
		s.scratch[n-1] = nil
		s.scratch = s.scratch[:n-1]
	}
	s.scratchMu.Unlock()
	if cap(b) >= need {
		return b[:0]
	}
	size := max(minScratch, 1<<bits.Len(uint(need-1)))
	return make([]byte, 0, max(need, min(size, s.scratchCap)))
}

// putScratch returns b for the next Save. There are never more than the
// Saves that ran at once.
func (s *Saver) putScratch(b []byte) {
	s.scratchMu.Lock()
	s.scratch = append(s.scratch, b)
	s.scratchMu.Unlock()
}

// packKind selects the open pack a chunk goes to.
type packKind int

const (
	dataPack packKind = iota
	metaPack
)

// Save stores plain under id unless the repository or this session already
// has it. It reports whether the chunk was new. compress asks for zstd,
// kept only when it shrinks the chunk.
func (s *Saver) Save(id ID, plain []byte, compress bool) (bool, error) {
	return s.save(id, plain, compress, dataPack)
}

// SaveMeta is Save for a snapshot's entry list: its chunks go to packs of
// their own, apart from file content (as restic keeps tree blobs apart), so
// reading an entry list, which every incremental backup does for its
// parent, reads a few packs instead of a window into every pack the backup
// wrote.
func (s *Saver) SaveMeta(id ID, plain []byte, compress bool) (bool, error) {
	s.metaMu.Lock()
	if len(s.metaIDs) < maxHot {
		s.metaIDs = append(s.metaIDs, id)
	}
	s.metaMu.Unlock()
	return s.save(id, plain, compress, metaPack)
}

// MetaIDs returns the IDs SaveMeta was given, new or not (a snapshot's
// entry-list chunks), or nil when there were more than maxHot: what the
// next backup reads of its parent, for CompactIndex to keep at hand.
func (s *Saver) MetaIDs() []ID {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if len(s.metaIDs) >= maxHot {
		return nil
	}
	return slices.Clone(s.metaIDs)
}

func (s *Saver) save(id ID, plain []byte, compress bool, kind packKind) (bool, error) {
	if !s.force {
		if err := s.r.need(s.ctx, id); err != nil {
			return false, err
		}
		if s.r.Has(id) {
			return false, nil
		}
	}
	if err := s.failed(); err != nil {
		return false, err
	}
	s.mu.Lock()
	if _, ok := s.pending[id]; ok {
		s.mu.Unlock()
		return false, nil
	}
	s.pending[id] = struct{}{}
	s.mu.Unlock()

	buf := s.getScratch(scratchNeed(len(plain)))
	defer func() { s.putScratch(buf) }()
	// Encrypted, the compressed payload goes where seal puts the
	// ciphertext, after the nonce, and is sealed in place.
	off := 0
	if s.r.cfg.Encrypted {
		off = s.r.k.aead.NonceSize() // where seal starts the ciphertext
	}
	stored, flags := plain, uint8(0)
	if compress && len(plain) > 64 {
		buf = s.r.codec().compress(buf[:off], plain, kind == metaPack)
		if c := buf[off:]; len(c) < len(plain)-len(plain)/64 {
			stored, flags = c, FlagCompressed
		}
	}
	sealed := stored
	if s.r.cfg.Encrypted {
		buf = s.r.k.seal(buf[:0], stored, id[:])
		sealed = buf
		flags |= FlagEncrypted
	}

	if err := s.failed(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur[kind] == nil {
		p, err := s.newPack()
		if err != nil {
			return false, err
		}
		s.cur[kind] = p
	}
	p := s.cur[kind]
	if _, err := p.f.Write(sealed); err != nil {
		return false, fmt.Errorf("write temporary pack file: %w", err)
	}
	p.entries = append(p.entries, PackEntry{ID: id, Flags: flags, Offset: uint32(p.size), Length: uint32(len(sealed)), RawLength: uint32(len(plain))})
	p.size += int64(len(sealed))
	s.newChunks.Add(1)
	s.storedBytes.Add(int64(len(sealed)))
	if p.size >= TargetPackSize {
		// Waiting for an upload slot under the lock is the backpressure
		// that bounds memory: no new pack opens while maxUploads are in
		// flight, so at most maxUploads+1 pack buffers exist.
		s.slots <- struct{}{}
		s.cur[kind] = nil
		s.upload(p)
	}
	return true, nil
}

// upload starts uploading p; the caller holds a slot.
func (s *Saver) upload(p *openPack) {
	s.uploads.Add(1)
	s.resMu.Lock()
	s.started = append(s.started, s.r.PackKey(p.name))
	s.resMu.Unlock()
	go func() {
		defer func() { <-s.slots; s.uploads.Done() }()
		err := s.writePack(p)
		s.resMu.Lock()
		defer s.resMu.Unlock()
		if err != nil {
			if s.err == nil {
				s.err = err
			}
			return
		}
		s.done = append(s.done, IndexPack{Name: p.name, Entries: p.entries})
	}()
}

func (s *Saver) writePack(p *openPack) error {
	defer p.discard()
	key := s.r.PackKey(p.name)
	hdr := s.r.sealMeta(encodeHeader(p.entries), metaAD("pack-header", strings.TrimPrefix(key, s.r.prefix)))
	trailer := make([]byte, 0, len(hdr)+4+len(packMagic))
	trailer = append(trailer, hdr...)
	trailer = binary.LittleEndian.AppendUint32(trailer, uint32(len(hdr)))
	trailer = append(trailer, packMagic...)
	if _, err := p.f.Write(trailer); err != nil {
		return fmt.Errorf("write temporary pack file: %w", err)
	}
	if err := s.putPack(key, p, int64(len(trailer))); err != nil {
		return fmt.Errorf("upload pack: %w", err)
	}
	s.storedBytes.Add(int64(len(hdr) + 4 + len(packMagic)))
	return nil
}

// putPack stores p, its trailer of n bytes written: a staged pack is
// given its key, a temporary one copied.
func (s *Saver) putPack(key string, p *openPack, n int64) error {
	if p.staged {
		return s.r.store.(storage.Stager).PutStaged(s.ctx, key, p.f, nil)
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind temporary pack file: %w", err)
	}
	// The reader is limited to the pack's length, and is a Seeker so that
	// a retrying Store can replay it.
	return s.r.store.Put(s.ctx, key, io.NewSectionReader(p.f, 0, p.size+n), nil)
}

// Flush uploads the open pack, waits for every upload, and writes the
// index object for the session's chunks. After Flush the chunks are
// visible to Lookup and to other processes that reload the index.
func (s *Saver) Flush() error {
	done, err := s.flushPacks()
	if err != nil || len(done) == 0 {
		return err
	}
	keys, n, err := s.r.writeIndex(s.ctx, done)
	s.storedBytes.Add(n)
	if err != nil || s.noInstall {
		return err
	}
	s.r.mu.Lock()
	for _, ip := range done {
		s.r.addPackLocked(ip)
	}
	for _, key := range keys {
		s.r.loadedIdx[key] = struct{}{}
	}
	s.r.mu.Unlock()
	return nil
}

// flushPacks uploads the open packs and waits for every upload, as Flush
// does, but writes no index: the caller lists the packs it returns in an
// index of its own. StoredBytes then counts the packs alone.
func (s *Saver) flushPacks() ([]IndexPack, error) {
	s.mu.Lock()
	open := s.cur
	s.cur = [2]*openPack{}
	s.mu.Unlock()
	for _, p := range open {
		if p != nil && len(p.entries) > 0 {
			s.slots <- struct{}{}
			s.upload(p)
		} else if p != nil {
			p.discard()
		}
	}
	s.uploads.Wait()
	s.resMu.Lock()
	defer s.resMu.Unlock()
	done := s.done
	s.done = nil
	return done, s.err
}

// Abort waits for uploads in flight and writes no index: the session's
// packs stay unreferenced until prune removes them.
func (s *Saver) Abort() {
	s.uploads.Wait()
	s.mu.Lock()
	for _, p := range s.cur {
		if p != nil {
			p.discard()
		}
	}
	s.cur = [2]*openPack{}
	s.mu.Unlock()
}

// Upload uploads the open packs and waits for every upload, as Flush
// does, but writes no index yet: the Flush that follows writes it. A
// backup of a repository not committed yet (Options.Deferred) uploads
// first, commits the repository, then flushes.
func (s *Saver) Upload() error {
	done, err := s.flushPacks()
	s.resMu.Lock()
	s.done = append(done, s.done...)
	s.resMu.Unlock()
	return err
}

// Discard aborts the session (as Abort) and deletes every pack it
// uploaded or began to: for a session no one else can reference, the
// first backup of a repository that was never committed. It returns the
// deletes' errors; a pack it could not delete stays unreferenced.
func (s *Saver) Discard(ctx context.Context) error {
	s.Abort()
	s.resMu.Lock()
	keys := s.started
	s.started, s.done = nil, nil
	s.resMu.Unlock()
	var errs []error
	for _, key := range keys {
		err := s.r.store.Delete(context.WithoutCancel(ctx), key)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete pack %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}
