package backup

import "golang.org/x/sys/unix"

// adviseHugePages asks the kernel to map b with transparent huge pages
// (MADV_HUGEPAGE: honoured when THP is "always" or "madvise", ignored
// when "never"). b is a large heap allocation, so it starts on a page.
func adviseHugePages(b []byte) {
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
}
