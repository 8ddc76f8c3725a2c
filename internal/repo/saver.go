package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/iluxsys/steward/storage"
)

// Saver writes new chunks into packs for one backup. Save may be called from
// many goroutines; Flush uploads what remains and writes the index object
// that makes the session's chunks visible. Memory is bounded: one open pack
// plus at most maxUploads packs being uploaded.
type Saver struct {
	r   *Repo
	ctx context.Context

	mu      sync.Mutex
	cur     *openPack
	pending map[ID]struct{} // saved in this session
	done    []IndexPack     // uploaded packs, for the index object
	err     error

	uploads  sync.WaitGroup
	slots    chan struct{}
	packPool sync.Pool
	scratch  sync.Pool

	// Figures for the manifest.
	NewChunks   int64
	StoredBytes int64
}

type openPack struct {
	name    string
	buf     *bytes.Buffer
	entries []PackEntry
}

// NewSaver starts a save session. maxUploads bounds concurrent pack uploads.
func (r *Repo) NewSaver(ctx context.Context, maxUploads int) *Saver {
	if maxUploads < 1 {
		maxUploads = 1
	}
	s := &Saver{r: r, ctx: ctx, pending: map[ID]struct{}{}, slots: make(chan struct{}, maxUploads)}
	s.packPool.New = func() any { return bytes.NewBuffer(make([]byte, 0, TargetPackSize+MaxChunk+4096)) }
	s.scratch.New = func() any { b := make([]byte, 0, MaxChunk+MaxChunk/8+64); return &b }
	return s
}

// Save stores plain under id unless the repository or this session already
// has it. It reports whether the chunk was new. compress asks for zstd,
// kept only when it shrinks the chunk.
func (s *Saver) Save(id ID, plain []byte, compress bool) (bool, error) {
	if s.r.Has(id) {
		return false, nil
	}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return false, err
	}
	if _, ok := s.pending[id]; ok {
		s.mu.Unlock()
		return false, nil
	}
	s.pending[id] = struct{}{}
	s.mu.Unlock()

	sp := s.scratch.Get().(*[]byte)
	defer s.scratch.Put(sp)
	stored, flags := plain, uint8(0)
	if compress && len(plain) > 64 {
		c := s.r.codec().compress((*sp)[:0], plain)
		if len(c) < len(plain)-len(plain)/64 {
			stored, flags = c, FlagCompressed
		}
		*sp = c[:0]
	}
	var sealed []byte
	if s.r.cfg.Encrypted {
		var sb []byte
		if flags&FlagCompressed != 0 {
			// stored aliases *sp: seal into a fresh region after it.
			sb = make([]byte, 0, len(stored)+64)
		} else {
			sb = (*sp)[:0]
		}
		sealed = s.r.k.seal(sb, stored, id[:])
		flags |= FlagEncrypted
	} else {
		sealed = stored
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	if s.cur == nil {
		s.cur = &openPack{name: randomHex(16), buf: s.packPool.Get().(*bytes.Buffer)}
		s.cur.buf.Reset()
	}
	p := s.cur
	p.entries = append(p.entries, PackEntry{ID: id, Flags: flags, Offset: uint32(p.buf.Len()), Length: uint32(len(sealed)), RawLength: uint32(len(plain))})
	p.buf.Write(sealed)
	s.NewChunks++
	s.StoredBytes += int64(len(sealed))
	if p.buf.Len() >= TargetPackSize {
		s.cur = nil
		s.mu.Unlock()
		s.upload(p) // blocks while maxUploads packs are in flight
		s.mu.Lock()
	}
	return true, nil
}

func (s *Saver) upload(p *openPack) {
	s.slots <- struct{}{}
	s.uploads.Add(1)
	go func() {
		defer func() { <-s.slots; s.uploads.Done() }()
		err := s.writePack(p)
		s.mu.Lock()
		defer s.mu.Unlock()
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
	defer s.packPool.Put(p.buf)
	hdr := s.r.sealMeta(encodeHeader(p.entries), "pack-header")
	p.buf.Write(hdr)
	var tl [4]byte
	binary.LittleEndian.PutUint32(tl[:], uint32(len(hdr)))
	p.buf.Write(tl[:])
	p.buf.WriteString(packMagic)
	key := s.r.PackKey(p.name)
	if err := s.r.store.Put(s.ctx, key, bytes.NewReader(p.buf.Bytes()), nil); err != nil {
		return fmt.Errorf("upload pack: %w", err)
	}
	s.mu.Lock()
	s.StoredBytes += int64(len(hdr) + 4 + len(packMagic))
	s.mu.Unlock()
	return nil
}

// Flush uploads the open pack, waits for every upload, and writes the
// index object for the session's chunks. After Flush the chunks are
// visible to Lookup and to other processes that reload the index.
func (s *Saver) Flush() error {
	s.mu.Lock()
	p := s.cur
	s.cur = nil
	s.mu.Unlock()
	if p != nil && len(p.entries) > 0 {
		s.upload(p)
	}
	s.uploads.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if len(s.done) == 0 {
		return nil
	}
	key := s.r.prefix + "index/" + randomHex(16)
	body := s.r.sealMeta(EncodeIndex(s.done), "index")
	if err := storage.PutBytes(s.ctx, s.r.store, key, body, &storage.PutOptions{IfNotExist: true}); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	s.StoredBytes += int64(len(body))
	s.r.mu.Lock()
	for _, ip := range s.done {
		s.r.addPackLocked(ip)
	}
	s.r.loadedIdx[key] = true
	s.r.mu.Unlock()
	s.done = nil
	return nil
}

// Abort waits for uploads in flight and writes no index: the session's
// packs stay unreferenced until prune removes them.
func (s *Saver) Abort() {
	s.uploads.Wait()
	s.mu.Lock()
	if s.cur != nil {
		s.packPool.Put(s.cur.buf)
		s.cur = nil
	}
	s.mu.Unlock()
}
