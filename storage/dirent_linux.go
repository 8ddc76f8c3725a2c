//go:build linux

package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// direntBufSize is the buffer getdents fills: about 400 names a call.
const direntBufSize = 16 << 10

// readDirEntries returns the entries of directory f whose names begin with
// one of leaves, unsorted. It reads the kernel's records itself (getdents64) and
// copies only the matching names: a repository lists a few keys of a
// directory of 10,000 snapshots, and os.File.ReadDir would allocate every
// name and entry there.
func readDirEntries(f *os.File, leaves []string) ([]dirEntry, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, direntBufSize)
	var out []dirEntry
	for {
		var n int
		var rerr error
		if err := sc.Read(func(fd uintptr) bool {
			n, rerr = syscall.ReadDirent(int(fd), buf)
			return true
		}); err != nil {
			return nil, err
		}
		if errors.Is(rerr, syscall.EINTR) {
			continue
		}
		if rerr != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: f.Name(), Err: rerr}
		}
		if n <= 0 {
			return out, nil
		}
		if out, err = appendDirents(out, buf[:n], leaves); err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: f.Name(), Err: err}
		}
	}
}

// appendDirents appends to out the records of b (struct linux_dirent64:
// inode u64, offset s64, record length u16, type u8, NUL-terminated name)
// whose names begin with one of leaves, "." and ".." excepted.
func appendDirents(out []dirEntry, b []byte, leaves []string) ([]dirEntry, error) {
	const nameOff = 19
	for len(b) > 0 {
		if len(b) < nameOff {
			return nil, fmt.Errorf("directory record of %d bytes", len(b))
		}
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < nameOff || reclen > len(b) {
			return nil, fmt.Errorf("directory record length %d of %d bytes", reclen, len(b))
		}
		typ, name := b[18], b[nameOff:reclen]
		b = b[reclen:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if !hasAnyBytePrefix(name, leaves) || string(name) == "." || string(name) == ".." {
			continue
		}
		out = append(out, dirEntry{name: string(name), kind: direntKind(typ)})
	}
	return out, nil
}

// hasAnyBytePrefix is hasAnyPrefix on a name not copied yet.
func hasAnyBytePrefix(name []byte, leaves []string) bool {
	for _, l := range leaves {
		if bytes.HasPrefix(name, []byte(l)) {
			return true
		}
	}
	return false
}

// direntKind maps a record's d_type to what a listing needs to know.
func direntKind(typ byte) entryKind {
	switch typ {
	case syscall.DT_REG:
		return kindFile
	case syscall.DT_DIR:
		return kindDir
	case syscall.DT_UNKNOWN:
		return kindUnknown
	}
	return kindOther
}
