//go:build !unix

package backup

import "os"

// openFlags open a source file for reading.
const openFlags = os.O_RDONLY
