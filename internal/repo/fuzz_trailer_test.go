package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iluxsys/steward/storage"
)

// rangeCheckStore is a Store that fails the test when a range read
// reaches outside its object: a reader asking for more than the object
// holds has trusted a length it read from the object (and would have
// allocated for it).
type rangeCheckStore struct {
	storage.Store
	t testing.TB
}

func (s rangeCheckStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	info, err := s.Store.Stat(ctx, key)
	if err == nil && (off < 0 || n < 0 || off+n > info.Size) {
		s.t.Fatalf("GetRange(%q, %d, %d) reaches outside the %d-byte object", key, off, n, info.Size)
	}
	return s.Store.GetRange(ctx, key, off, n)
}

// fuzzPack returns an encrypted repository under the fixed data key
// fzDataKey and the bytes of a pack holding chunks, as a Saver wrote them,
// with its header sealed for the fixed name fzBlobPack. A fuzz worker
// process builds its own repository: with the key and the name fixed, an
// input found by one process opens the same way in the next (a nonce
// differs, so the genuine bytes do not).
func fuzzPack(ctx context.Context, store storage.Store, chunks ...[]byte) (*Repo, []byte, error) {
	opts := Options{Create: true, Encrypt: true, Keys: testKeys{7}, Scope: "t", Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r, err := Open(ctx, store, "tenants/t/", opts)
	if err != nil {
		return nil, nil, err
	}
	if r.k, err = deriveKeys(fzDataKey, true); err != nil {
		return nil, nil, err
	}
	s := r.NewSaver(ctx, 1)
	var first ID
	for i, c := range chunks {
		id := r.ChunkID(c)
		if _, err := s.Save(id, c, true); err != nil {
			return nil, nil, err
		}
		if i == 0 {
			first = id
		}
	}
	if err := s.Flush(); err != nil {
		return nil, nil, err
	}
	_, saved, ok := r.Lookup(first)
	if !ok {
		return nil, nil, fmt.Errorf("chunk %s missing from the index", first)
	}
	entries, err := r.ReadPackHeader(ctx, saved)
	if err != nil {
		return nil, nil, err
	}
	pack, err := storage.ReadAll(ctx, store, saved)
	if err != nil {
		return nil, nil, err
	}
	tl := 4 + len(packMagic)
	hl := int(binary.LittleEndian.Uint32(pack[len(pack)-tl:]))
	out := bytes.Clone(pack[:len(pack)-tl-hl])
	hdr := r.sealMeta(encodeHeader(entries), metaAD("pack-header", strings.TrimPrefix(r.PackKey(fzBlobPack), r.prefix)))
	out = append(out, hdr...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(hdr)))
	return r, append(out, packMagic...), nil
}

// FuzzReadPackHeader stores fuzz bytes as a pack of an encrypted
// repository and reads its header through the trailer. An error is
// ErrCorrupt (or the store's ErrNotFound), no read reaches past the
// object (so no length from the trailer is allocated on trust), and a
// header that opens lists the genuine entries when the bytes are the
// genuine pack, and otherwise only entries that lie inside the pack's
// data, before its header.
func FuzzReadPackHeader(f *testing.F) {
	ctx := context.Background()
	mem := storage.NewMemory()
	chunks := [][]byte{[]byte("first chunk"), bytes.Repeat([]byte("second "), 300), []byte("third")}
	r, genuine, err := fuzzPack(ctx, mem, chunks...)
	if err != nil {
		f.Fatal(err)
	}
	packKey := r.PackKey(fzBlobPack)
	if err := storage.PutBytes(ctx, mem, packKey, genuine, nil); err != nil {
		f.Fatal(err)
	}
	want, err := r.ReadPackHeader(ctx, packKey)
	if err != nil {
		f.Fatal(err)
	}
	if len(want) != len(chunks) {
		f.Fatalf("genuine pack lists %d entries, want %d", len(want), len(chunks))
	}

	tl := 4 + len(packMagic)
	withLength := func(hl uint32) []byte {
		b := bytes.Clone(genuine)
		binary.LittleEndian.PutUint32(b[len(b)-tl:], hl)
		return b
	}
	f.Add(genuine)
	f.Add(withLength(0xFFFFFFFF))                  // a 4 GiB header
	f.Add(withLength(0xFFFFFFF0))                  // just below 4 GiB
	f.Add(withLength(uint32(len(genuine) - tl)))   // the whole object
	f.Add(withLength(uint32(len(genuine)-tl) + 1)) // one past it
	f.Add(withLength(0))
	f.Add(genuine[len(genuine)-tl:])     // a trailer alone
	f.Add(append([]byte{0}, genuine...)) // one byte added in front
	f.Add([]byte(packMagic))
	f.Add([]byte{})
	flipped := bytes.Clone(genuine)
	flipped[len(flipped)-tl-1] ^= 1 // the header's tag
	f.Add(flipped)

	f.Fuzz(func(t *testing.T, data []byte) {
		r.store = rangeCheckStore{Store: mem, t: t}
		require.NoError(t, storage.PutBytes(ctx, mem, packKey, data, nil))
		got, err := r.ReadPackHeader(ctx, packKey)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("ReadPackHeader(%d bytes): got error %v, want one matching ErrCorrupt", len(data), err)
			}
			return
		}
		if bytes.Equal(data, genuine) {
			require.Equal(t, want, got, "entries of the genuine pack")
			return
		}
		hl := int64(binary.LittleEndian.Uint32(data[len(data)-tl:]))
		dataEnd := uint64(int64(len(data)) - int64(tl) - hl)
		for i, e := range got {
			if end := uint64(e.Offset) + uint64(e.Length); end > dataEnd {
				t.Fatalf("entry %d (%s) ends at %d: outside the %d bytes of pack data (%s)", i, e.ID, end, dataEnd,
					fmt.Sprintf("object %d bytes, header %d", len(data), hl))
			}
		}
	})
}
