//go:build unix

package backup

import (
	"io/fs"
	"syscall"
)

// hardLinkKey returns the device and inode of a file the walk's Lstat
// (info) shows with more than one link; false for a file with one link,
// or when info carries no syscall.Stat_t.
func hardLinkKey(info fs.FileInfo) (fileKey, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || st.Nlink <= 1 {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}
