package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/repo"
)

// saveEntryList chunks the segment IDs collect writes to the pipe (the
// segment list, format 2, see segments.go) and saves the chunks like file
// content; their IDs become the manifest's Tree. On an error it closes the
// pipe with it, so collect stops too.
func (a *archiver) saveEntryList() error {
	err := a.chunkEntryList()
	if err != nil {
		a.pr.CloseWithError(err)
	}
	return err
}

func (a *archiver) chunkEntryList() error {
	var head bytes.Buffer
	_, err := io.CopyN(&head, a.pr, int64(entryListProbe)+1)
	var c *repo.Chunker
	switch {
	case err == io.EOF: // the whole list, chunked where it lies
		c = repo.NewChunkerOver(a.r.Gear(), head.Bytes())
	case err != nil:
		return err
	default:
		buf := a.e.bufs.Get(SizeUnknown)
		defer a.e.bufs.Put(buf)
		c = repo.NewChunker(a.r.Gear(), io.MultiReader(&head, a.pr), buf.B)
	}
	for {
		chunk, err := c.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		id := a.r.ChunkID(chunk)
		if _, err := a.saver.SaveMeta(id, chunk, true); err != nil {
			return err
		}
		a.tree = append(a.tree, id.String())
	}
}

// entryListProbe: an entry list of at most this many bytes (a tenant of
// a few thousand files) is read whole and chunked where it lies, with no
// chunker buffer: the BigChunkerBuf of 5 MiB it took before was
// allocated and cleared for a list of a few kilobytes by every engine
// made for one backup (a CLI process). A variable for tests.
var entryListProbe = 256 << 10

// commit writes the manifest of the backup a ran, once its packs and index
// are flushed: the manifest, written only if no object has its key, is the
// commit point. A backup that fails before leaves no manifest.
func (e *Engine) commit(ctx context.Context, tenant string, a *archiver, start time.Time) (*Snapshot, error) {
	id := newSnapshotID(e.cfg.Clock.Now())
	o, r := a.o, a.r
	m := &manifest{Format: 2, Tree: a.tree}
	m.Snapshot = Snapshot{
		ID: id, Tenant: tenant, Type: o.Type, Timestamp: start.UTC(),
		CreatedBy: steward.PrincipalID(ctx), Tags: o.Tags, Components: o.Components,
		Checksums: a.sums.Sums(),
		Metadata: Metadata{
			TenantName: o.TenantName, BackupVersion: BackupVersion, PlatformVersion: o.PlatformVersion,
			SchemaVersion: o.SchemaVersion, SizeBytes: a.size, StoredBytes: a.saver.StoredBytes(),
			Compressed: !o.DisableCompression, Encrypted: r.Encrypted(), FileCount: a.files,
			SpecialSkipped: a.special,
		},
	}
	if m.Skipped = a.skipped.sorted(); len(m.Skipped) > 0 {
		m.Metadata.Partial = true
	}
	if a.parent != nil {
		m.Parent = a.parent.ID
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
		return nil, errs.Errorf("backup", "commit snapshot: %w", err)
	}
	s := m.Snapshot
	return &s, nil
}
