//go:build unix

package backup

import (
	"os"
	"syscall"
)

// openFlags open a source file for reading without blocking on a FIFO
// swapped in for it (the identity check then refuses it); regular files
// ignore O_NONBLOCK.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
