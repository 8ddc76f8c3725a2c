//go:build !linux

package backup

// adviseHugePages does nothing where the kernel has no madvise hint for
// huge pages that this package uses.
func adviseHugePages([]byte) {}
