//go:build !linux

package storage

import (
	"os"
	"strings"
)

// readDirEntries returns the entries of directory f whose names begin with
// leaf, unsorted.
func readDirEntries(f *os.File, leaf string) ([]dirEntry, error) {
	all, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []dirEntry
	for _, d := range all {
		if !strings.HasPrefix(d.Name(), leaf) {
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
