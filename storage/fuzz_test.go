package storage_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/iluxsys/steward/storage"
)

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "", "/a", "a/", "a//b", "..", "a/../b", "a\\b", "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := storage.ValidateKey(key)
		if err != nil {
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Fatalf("%q: error %v does not match ErrInvalidKey", key, err)
			}
			return
		}
		if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") ||
			strings.ContainsAny(key, "\x00\\") {
			t.Fatalf("ValidateKey accepted %q", key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("ValidateKey accepted %q", key)
			}
		}
	})
}
