//go:build !linux

package restore

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// fastPath reports whether this platform has the fast path
// (fastpath_linux.go): it has not, and files go through os.Root by name.
const fastPath = false

// fdsPerDir is how many descriptors an open directory of a DirTarget
// holds: its os.Root.
const fdsPerDir = 1

var errNoFastPath = errors.New("restore: no fast path on this platform")

func needsChmod(fs.FileMode) bool                                { return true }
func createAt(*os.File, string, fs.FileMode) (fileHandle, error) { return nil, errNoFastPath }
func chtimesAt(*os.File, string, time.Time) error                { return errNoFastPath }
func renameAt(*os.File, string, string) error                    { return errNoFastPath }

func openDirAt(*os.File, string) (*os.File, error)               { return nil, errNoFastPath }
func removeAt(*os.File, string) error                            { return errNoFastPath }
func finishDirAt(*os.File, string, fs.FileMode, time.Time) error { return errNoFastPath }
