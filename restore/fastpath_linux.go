//go:build linux

package restore

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The fast path writes a regular file with the *at system calls on the
// descriptor of its directory, which the target holds open (dirRoot.dir):
// openat (creating the temporary name with its final mode), the writes,
// close, utimensat and renameat — five or six calls a file where going
// through os.Root by name took about twenty (it resolves each name again,
// checks it for links and registers each descriptor with the poller).
// Every name is one element, created with O_EXCL|O_NOFOLLOW or renamed
// within the directory, so nothing is followed and nothing outside the
// directory is reached; the directory itself was opened through the
// target's os.Root.

// fastPath reports whether this platform has the fast path.
const fastPath = true

// fdsPerDir is how many descriptors an open directory of a DirTarget
// holds: its os.Root and, for the fast path, the directory itself.
const fdsPerDir = 2

// processUmask is the umask read once from /proc/self/status (-1 when
// unknown: the mode is then always set with fchmod). Reading it by setting
// it would race with other goroutines creating files.
var processUmask = readUmask()

func readUmask() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				return -1
			}
			return int(m)
		}
	}
	return -1
}

// needsChmod reports whether a file created with perm must have its mode
// set again (the umask took bits away, or the umask is unknown).
func needsChmod(perm fs.FileMode) bool {
	return processUmask < 0 || int(perm)&processUmask != 0
}

// withFD runs fn with dir's descriptor, which stays open meanwhile.
func withFD(dir *os.File, fn func(fd int) error) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// createAt creates name in dir, exclusively, with mode perm (less the
// umask), for writing. The file is a bare descriptor (fdFile): an
// *os.File would ask the kernel for the descriptor's flags (one fcntl a
// file) and register a finalizer, for a file written once and closed.
func createAt(dir *os.File, name string, perm fs.FileMode) (fileHandle, error) {
	var nfd int
	err := withFD(dir, func(fd int) error {
		var err error
		for {
			nfd, err = unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
			if err != syscall.EINTR {
				return err
			}
		}
	})
	if err != nil {
		return nil, &fs.PathError{Op: "openat", Path: name, Err: err}
	}
	return &fdFile{fd: nfd, name: name}, nil
}

// fdFile is a file open for writing by its bare descriptor. It is used by
// one goroutine at a time; Close releases the descriptor once.
type fdFile struct {
	fd   int
	name string
}

// Write writes all of p, or fails with a *fs.PathError.
func (f *fdFile) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(f.fd, p[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, &fs.PathError{Op: "write", Path: f.name, Err: err}
		}
		if n == 0 {
			return done, &fs.PathError{Op: "write", Path: f.name, Err: io.ErrShortWrite}
		}
		done += n
	}
	return done, nil
}

// Chmod sets the file's mode bits to perm.
func (f *fdFile) Chmod(perm fs.FileMode) error {
	if err := unix.Fchmod(f.fd, uint32(perm.Perm())); err != nil {
		return &fs.PathError{Op: "fchmod", Path: f.name, Err: err}
	}
	return nil
}

// Close closes the descriptor; a second Close fails with fs.ErrClosed.
func (f *fdFile) Close() error {
	if f.fd < 0 {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	fd := f.fd
	f.fd = -1
	if err := unix.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// chtimesAt sets name's access and modification times in dir to t,
// without following a link.
func chtimesAt(dir *os.File, name string, t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	err := withFD(dir, func(fd int) error {
		return unix.UtimesNanoAt(fd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return &fs.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

// renameAt renames from to to, both in dir.
func renameAt(dir *os.File, from, to string) error {
	err := withFD(dir, func(fd int) error { return unix.Renameat(fd, from, fd, to) })
	if err != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: err}
	}
	return nil
}

// openDirAt opens the directory name in dir, making it (mode 0755) when
// missing. It refuses, with errBelowLink, a symbolic link there, and
// a file with syscall.ENOTDIR: nothing is followed.
func openDirAt(dir *os.File, name string) (*os.File, error) {
	var nfd int
	err := withFD(dir, func(fd int) error {
		open := func() (err error) {
			for {
				nfd, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				if err != syscall.EINTR {
					return err
				}
			}
		}
		err := open()
		if err == syscall.ENOENT {
			if err = unix.Mkdirat(fd, name, 0o755); err == nil || err == syscall.EEXIST {
				err = open()
			}
		}
		if err == syscall.ELOOP || err == syscall.ENOTDIR && isLinkAt(fd, name) {
			return errBelowLink
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// isLinkAt reports whether name in the directory fd is a symbolic link.
func isLinkAt(fd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// removeAt removes the file name in dir.
func removeAt(dir *os.File, name string) error {
	err := withFD(dir, func(fd int) error { return unix.Unlinkat(fd, name, 0) })
	if err != nil {
		return &fs.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	return nil
}

// finishDirAt gives the directory name in dir the mode perm (unless 0)
// and the mtime t (unless zero). Anything but a directory there (a link
// put there meanwhile), or nothing, is left alone.
func finishDirAt(dir *os.File, name string, perm fs.FileMode, t time.Time) error {
	return withFD(dir, func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil
		}
		if perm != 0 {
			if err := unix.Fchmodat(fd, name, uint32(perm), 0); err != nil {
				return err
			}
		}
		if t.IsZero() {
			return nil
		}
		ts := unix.NsecToTimespec(t.UnixNano())
		return unix.UtimesNanoAt(fd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
}
