// Package snapshot holds the rules of the snapshot format that backup,
// restore and release share: what an entry path may be, which module a
// path belongs to, the order of a walk, and how a module's checksum is
// computed.
package snapshot

import (
	"fmt"
	"io/fs"
	"strings"
)

// ModuleOf returns the module of a path: its first element.
func ModuleOf(p string) string {
	m, _, _ := strings.Cut(p, "/")
	return m
}

// ValidatePath checks an entry path: relative, slash-separated, no empty,
// "." or ".." elements, no backslash or NUL. Backups refuse sources that
// yield such paths and restores refuse manifests that hold them. Any
// other bytes are allowed: a name that is not valid UTF-8 is stored
// losslessly.
func ValidatePath(p string) error {
	if p == "" {
		return fmt.Errorf("path is empty")
	}
	if strings.ContainsAny(p, "\\\x00") {
		return fmt.Errorf("path %q contains a backslash or NUL", p)
	}
	if strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q is absolute", p)
	}
	for el := range strings.SplitSeq(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("path %q has an empty, '.' or '..' element", p)
		}
	}
	return nil
}

// SortKey orders entries as Sources walk them: by path, a directory
// sorting as its path followed by '/'.
func SortKey(p string, mode fs.FileMode) string {
	if mode.IsDir() {
		return p + "/"
	}
	return p
}
