package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io/fs"
)

// Checksummer computes per-module checksums from a snapshot's files in
// entry-list order. A module's checksum is the SHA-256 (hex) of one line
// per regular file, "<sha256 hex>  <size>  <path>\n", in entry-list order —
// the format of sha256sum with the size added. Restores recompute it from
// what they wrote to prove the module came back whole.
type Checksummer struct {
	h map[string]hash.Hash
}

// NewChecksummer returns an empty Checksummer.
func NewChecksummer() *Checksummer { return &Checksummer{h: map[string]hash.Hash{}} }

// Add accounts for one file; directories are ignored. sha is the file's
// content SHA-256 in hex.
func (c *Checksummer) Add(path string, mode fs.FileMode, size int64, sha string) {
	if !mode.IsRegular() {
		return
	}
	m := ModuleOf(path)
	h, ok := c.h[m]
	if !ok {
		h = sha256.New()
		c.h[m] = h
	}
	fmt.Fprintf(h, "%s  %d  %s\n", sha, size, path)
}

// Sums returns the checksum of every module seen.
func (c *Checksummer) Sums() map[string]string {
	out := make(map[string]string, len(c.h))
	for m, h := range c.h {
		out[m] = hex.EncodeToString(h.Sum(nil))
	}
	return out
}
