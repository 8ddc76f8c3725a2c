//go:build !linux

package storage

import (
	"os"
	"strings"
)

// readDirEntries returns the entries of directory f whose names begin with
// one of leaves, unsorted.
func readDirEntries(f *os.File, leaves []string) ([]dirEntry, error) {
	all, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []dirEntry
	for _, d := range all {
		if !hasAnyPrefix(d.Name(), leaves) {
			continue
		}
		k := kindOther
		switch t := d.Type(); {
		case t.IsRegular():
			k = kindFile
		case t.IsDir():
			k = kindDir
		}
		out = append(out, dirEntry{name: d.Name(), kind: k})
	}
	return out, nil
}

// hasAnyPrefix reports whether name begins with one of leaves.
func hasAnyPrefix(name string, leaves []string) bool {
	for _, l := range leaves {
		if strings.HasPrefix(name, l) {
			return true
		}
	}
	return false
}
