//go:build !unix

package backup

import "io/fs"

// hardLinkKey reports no hard links: outside unix systems DirSource
// yields every path of a file as a separate file.
func hardLinkKey(fs.FileInfo) (fileKey, bool) { return fileKey{}, false }
