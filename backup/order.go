package backup

import (
	"fmt"
	"strings"
)

// belowFiles finds, in entries that come in walk order (sortKey), an entry
// that lies below a non-directory entry: a file "a" and then "a/b". Such a
// list cannot be restored (the restore would replace one with the other),
// so backups refuse to write it and readers refuse to believe it.
//
// It keeps only the non-directory entries that are a prefix of the next
// one: in walk order, "a"'s descendants come after "a-x" and "a.b" (which
// sort below '/') and before "a0", so the stack is at most one path deep.
type belowFiles struct {
	stack []string
}

// check records e and reports an error when e lies below a non-directory
// entry seen before.
func (b *belowFiles) check(e Entry) error {
	for len(b.stack) > 0 {
		top := b.stack[len(b.stack)-1]
		if strings.HasPrefix(e.Path, top) && len(e.Path) > len(top) && e.Path[len(top)] <= '/' {
			if e.Path[len(top)] == '/' {
				return fmt.Errorf("entry %q lies below %q, which is not a directory", e.Path, top)
			}
			break
		}
		b.stack = b.stack[:len(b.stack)-1]
	}
	if !e.Mode.IsDir() {
		b.stack = append(b.stack, e.Path)
	}
	return nil
}
