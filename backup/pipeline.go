package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/internal/repo"
)

// Backup takes a snapshot of src for tenant (or General, or Releases).
//
// The pipeline streams: the Source is walked once; files are read by
// Parallelism workers, split into content-defined chunks, and each new
// chunk is hashed, compressed, encrypted and packed; the entry list is
// chunked the same way; then packs, the index and finally the manifest are
// written (the manifest with IfNotExist is the commit point). Memory is
// bounded by Parallelism, not by the size of files or of the dataset. On any
// error nothing becomes visible: no manifest is written.
//
// Incremental backups compare each file's size, mtime and mode with the
// newest snapshot (or the newest at or before Options.Since) and reuse the
// chunk list of unchanged files without opening them.
func (e *Engine) Backup(ctx context.Context, tenant string, src Source, opts *Options) (*Snapshot, error) {
	if _, err := scopePrefix(tenant); err != nil {
		return nil, err
	}
	o := Options{Type: Incremental, Compress: true}
	if opts != nil {
		o = *opts
	}
	if o.Type == "" {
		o.Type = Incremental
	}
	if o.Type != Full && o.Type != Incremental {
		return nil, fmt.Errorf("%w: type %q: use %q or %q", ErrInvalidOptions, o.Type, Full, Incremental)
	}
	if src == nil {
		return nil, fmt.Errorf("%w: source is nil", ErrInvalidOptions)
	}
	if o.Encrypt && e.cfg.Keys == nil {
		return nil, fmt.Errorf("%w: Encrypt needs Config.Keys (a passphrase or KMS key provider)", ErrInvalidOptions)
	}
	if err := audit.Authorize(ctx, e.cfg.Authorizer, e.cfg.Auditor, steward.ActionBackupCreate, tenant); err != nil {
		return nil, err
	}
	start := e.cfg.Clock.Now()
	snap, err := e.backup(ctx, tenant, src, &o, start)
	if err != nil {
		e.record(ctx, tenant, audit.TypeBackupFailed, err, fmt.Sprintf("%s backup of %q failed", o.Type, tenant),
			map[string]any{audit.DataType: string(o.Type), audit.DataDurationMS: e.cfg.Clock.Now().Sub(start).Milliseconds()})
		return nil, err
	}
	e.record(ctx, tenant, audit.TypeBackupCreated, nil, fmt.Sprintf("%s backup %s of %q", o.Type, snap.ID, tenant), map[string]any{
		audit.DataSnapshotID: snap.ID, audit.DataType: string(snap.Type), audit.DataDurationMS: snap.Metadata.DurationMS,
		audit.DataSizeBytes: snap.Metadata.SizeBytes, audit.DataStoredBytes: snap.Metadata.StoredBytes, audit.DataFileCount: snap.Metadata.FileCount,
	})
	return snap, nil
}

// job is one entry of the walk on its way to the entry list.
type job struct {
	file File
	read bool          // content must be read
	done chan struct{} // closed when file is complete (or err set)
	err  error
}

func (e *Engine) backup(ctx context.Context, tenant string, src Source, o *Options, start time.Time) (*Snapshot, error) {
	r, err := e.repo(ctx, tenant, true, o.Encrypt)
	if err != nil {
		return nil, err
	}
	if o.Encrypt && !r.Encrypted() {
		return nil, fmt.Errorf("%w: scope %q was created unencrypted; its backups stay unencrypted (back up to a new scope to encrypt)", ErrInvalidOptions, tenant)
	}
	// A shared lock keeps prune out until the manifest is written; the
	// index is reloaded under it, since a prune that ran before may have
	// rewritten it (deduplicating against a stale index could reference
	// chunks prune deleted).
	lock, err := r.Lock(ctx, false, "backup by "+steward.PrincipalID(ctx), e.cfg.Clock.Now)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer lock.Unlock(ctx)
	if err := r.RefreshIndex(ctx); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	var parent *manifest
	if o.Type == Incremental {
		ms, err := e.manifests(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("backup: find the parent snapshot: %w", err)
		}
		for _, m := range ms {
			if o.Since.IsZero() || !m.Timestamp.After(o.Since) {
				parent = m
				break
			}
		}
	}

	if o.Type == Incremental && parent == nil {
		o.Type = Full // nothing to compare against: every file is read
	}

	var totals Progress
	if o.Progress != nil {
		err := src.Walk(ctx, func(en Entry) error {
			if en.Mode.IsRegular() {
				totals.FilesTotal++
				totals.BytesTotal += en.Size
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("backup: scan source: %w", err)
		}
	}

	sctx, cancelSaves := context.WithCancel(ctx)
	defer cancelSaves()
	g, gctx := errgroup.WithContext(sctx)
	saver := r.NewSaver(sctx, e.cfg.uploads())
	jobs := make(chan *job, e.cfg.Parallelism)
	order := make(chan *job, 256)
	pr, pw := io.Pipe()

	bufPool := e.bufs          // shared by the engine's backups: buffers outlive one backup
	var readBytes atomic.Int64 // content saved by the workers so far
	// The segment list (format 2, see segments.go): chunked and saved like
	// file content; its chunk IDs are the manifest's Tree.
	var tree []string
	g.Go(func() error {
		buf := bufPool.get()
		defer bufPool.put(buf)
		c := repo.NewChunker(r.Gear(), pr, buf)
		for {
			chunk, err := c.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				pr.CloseWithError(err)
				return err
			}
			id := r.ChunkID(chunk)
			if _, err := saver.SaveMeta(id, chunk, true); err != nil {
				pr.CloseWithError(err)
				return err
			}
			tree = append(tree, id.String())
		}
	})

	// Workers read, chunk and save file contents.
	var workers sync.WaitGroup
	for range e.cfg.Parallelism {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for j := range jobs {
				j.err = e.readFile(gctx, r, saver, src, &j.file, o.Compress, bufPool, &readBytes)
				close(j.done)
			}
			return nil
		})
	}

	// The collector writes entries in walk order and sums up. It also
	// reports progress: after each file, and every ProgressInterval while
	// it waits, with the bytes read so far (a large file moves the count
	// as its chunks are saved, not only when it is done).
	sums := NewChecksummer()
	var size, files int64
	progress := totals
	var reusedBytes int64 // unchanged files, taken from the parent unread
	var tick <-chan time.Time
	if o.Progress != nil {
		t := time.NewTicker(ProgressInterval)
		defer t.Stop()
		tick = t.C
	}
	g.Go(func() error {
		seg := newSegmenter(r, pw, func(id repo.ID, b []byte) error {
			_, err := saver.SaveMeta(id, b, true)
			return err
		})
		for j := range order {
		wait:
			for {
				select {
				case <-j.done:
					break wait
				case <-tick:
					progress.BytesDone = reusedBytes + readBytes.Load()
					o.Progress(progress)
				case <-gctx.Done():
					pw.CloseWithError(gctx.Err())
					return gctx.Err()
				}
			}
			if j.err != nil {
				pw.CloseWithError(j.err)
				return j.err
			}
			f := &j.file
			if f.Mode.IsRegular() {
				size += f.Size
				files++
				sums.Add(f.Path, f.Mode, f.Size, f.SHA256)
				if o.Progress != nil {
					if !j.read {
						reusedBytes += f.Size
					}
					progress.FilesDone++
					progress.BytesDone = reusedBytes + readBytes.Load()
					progress.Path = f.Path
					o.Progress(progress)
				}
			}
			line := lineOf(f)
			if err := seg.add(&line); err != nil {
				pw.CloseWithError(err)
				return err
			}
		}
		if err := seg.flush(); err != nil {
			pw.CloseWithError(err)
			return err
		}
		return pw.Close()
	})

	// The walk feeds both.
	g.Go(func() error {
		defer close(order)
		defer func() { close(jobs); workers.Wait() }()
		var next func() (File, error, bool)
		if parent != nil {
			var stop func()
			next, stop = iter.Pull2(e.files(gctx, r, parent))
			defer stop()
		}
		var pending *File // parent entry read ahead
		prevKey := ""
		var below belowFiles
		return src.Walk(gctx, func(en Entry) error {
			if err := ValidatePath(en.Path); err != nil {
				return fmt.Errorf("backup: source entry: %w", err)
			}
			if !en.Mode.IsDir() && !en.Mode.IsRegular() {
				return nil
			}
			key := sortKey(en.Path, en.Mode)
			if key <= prevKey {
				return fmt.Errorf("backup: source walked %q after %q: entries must come in lexical path order", en.Path, prevKey)
			}
			prevKey = key
			if err := below.check(en); err != nil {
				return fmt.Errorf("backup: source entry: %w", err)
			}
			j := &job{file: File{Entry: en}, done: make(chan struct{})}
			if en.Mode.IsDir() {
				j.file.Size = 0
				close(j.done)
			} else {
				reused := false
				for next != nil {
					if pending == nil {
						pf, err, ok := next()
						if !ok {
							next = nil
							break
						}
						if err != nil {
							return err
						}
						pending = &pf
					}
					pk := sortKey(pending.Path, pending.Mode)
					if pk < key {
						pending = nil
						continue
					}
					if pk == key && pending.Size == en.Size && pending.Mode == en.Mode && mtimeNanos(pending.ModTime) == mtimeNanos(en.ModTime) {
						j.file.SHA256, j.file.Chunks = pending.SHA256, pending.Chunks
						j.file.ModTime = pending.ModTime
						reused = true
					}
					break
				}
				if reused {
					close(j.done)
				} else {
					j.read = true
				}
			}
			select {
			case order <- j:
			case <-gctx.Done():
				return gctx.Err()
			}
			if j.read {
				select {
				case jobs <- j:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	})

	if err := g.Wait(); err != nil {
		cancelSaves()
		saver.Abort()
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := saver.Flush(); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	m := &manifest{Format: 2, Tree: tree}
	m.Snapshot = Snapshot{
		ID: id.String(), Tenant: tenant, Type: o.Type, Timestamp: start.UTC(),
		CreatedBy: steward.PrincipalID(ctx), Tags: o.Tags, Components: o.Components,
		Checksums: sums.Sums(),
		Metadata: Metadata{
			TenantName: o.TenantName, BackupVersion: BackupVersion, PlatformVersion: o.PlatformVersion,
			SchemaVersion: o.SchemaVersion, SizeBytes: size, StoredBytes: saver.StoredBytes(),
			Compressed: o.Compress, Encrypted: r.Encrypted(), FileCount: files,
		},
	}
	if parent != nil {
		m.Parent = parent.ID
	}
	if r.Encrypted() {
		m.Metadata.EncryptionAlgorithm = "AES-256-GCM"
		m.Metadata.KeyID = r.KeyID()
	}
	m.Metadata.DurationMS = e.cfg.Clock.Now().Sub(start).Milliseconds()
	m.Checksums["manifest"] = manifestChecksum(m)
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := r.SaveSnapshot(ctx, m.ID, body); err != nil {
		return nil, fmt.Errorf("backup: commit snapshot: %w", err)
	}
	s := m.Snapshot
	return &s, nil
}

// readFile reads one file, saving its new chunks, and fills f's SHA-256
// and chunk list. The file must yield exactly the size the walk reported;
// a file that changes while being read fails the backup rather than
// recording bytes that disagree with its metadata.
const smallFile = 1 << 20

var smallPool = &sync.Pool{New: func() any { b := make([]byte, smallFile+1); return &b }}

// freeList hands out at most a known number of equal buffers, reusing them.
type freeList struct {
	c    chan []byte
	size int
}

func newFreeList(n, size int) *freeList { return &freeList{c: make(chan []byte, n), size: size} }

func (f *freeList) get() []byte {
	select {
	case b := <-f.c:
		return b
	default:
		return make([]byte, f.size)
	}
}

func (f *freeList) put(b []byte) {
	select {
	case f.c <- b:
	default:
	}
}

// readFile chunks and saves one file, adding the bytes it saves to read
// as it goes.
func (e *Engine) readFile(ctx context.Context, r *repo.Repo, s *repo.Saver, src Source, f *File, compress bool, pool *freeList, read *atomic.Int64) error {
	rc, err := openEntry(ctx, src, f.Entry)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Files shorter than a small buffer need no full-size one: they are
	// one chunk and the chunker sees their end in the first read.
	var buf []byte
	if f.Size < smallFile {
		b := smallPool.Get().(*[]byte)
		defer smallPool.Put(b)
		buf = *b
	} else {
		buf = pool.get()
		defer pool.put(buf)
	}
	h := sha256.New()
	c := repo.NewChunker(r.Gear(), rc, buf)
	var n int64
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %q: %w", f.Path, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		h.Write(chunk)
		id := r.ChunkID(chunk)
		if _, err := s.Save(id, chunk, compress); err != nil {
			return err
		}
		f.Chunks = append(f.Chunks, ChunkRef{ID: id.String(), Size: int64(len(chunk))})
		n += int64(len(chunk))
		read.Add(int64(len(chunk)))
	}
	if n != f.Size {
		return fmt.Errorf("file %q changed during the backup: walked %d bytes, read %d", f.Path, f.Size, n)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	f.ModTime = f.ModTime.UTC().Truncate(0)
	return nil
}
