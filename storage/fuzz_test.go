package storage_test

import (
	"context"
	"errors"
	"net/url"
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

// FuzzOpenURLHidesCredentials: whatever the store URL, an error from Open
// never repeats the password or a query value the URL holds (drivers quote
// the URL they were given; url.Parse quotes its input). Secrets are what
// url.Parse finds in those places; file:// URLs are left out (opening one
// creates a directory). Each input runs in a fresh working directory: Open
// takes a string it does not parse as a URL ("#://...") for a directory
// path and creates it, which left such directories in the package's own.
func FuzzOpenURLHidesCredentials(f *testing.F) {
	f.Add("s3", "bucket", "AKIAEXAMPLE", "s3cr3tPassw0rd", "token", "sigXYZsigXYZ")
	f.Add("gs", "b", "u", "p%zzass-word", "sig", "abc%2Fdef")
	f.Add("azblob", "c", "", "", "sv", "2020-01-01&sig=XYZXYZXYZ")
	f.Add("mem", "", "user", "hunter22", "x", "yyyyyyyy")
	f.Fuzz(func(t *testing.T, scheme, host, user, pass, key, val string) {
		if strings.EqualFold(scheme, "file") {
			return
		}
		t.Chdir(t.TempDir())
		raw := scheme + "://" + user + ":" + pass + "@" + host + "/p?" + key + "=" + val
		var secrets []string
		u, perr := url.Parse(raw)
		if perr != nil {
			secrets = []string{pass, val} // nothing of the input may be echoed
		} else {
			if p, ok := u.User.Password(); ok {
				secrets = append(secrets, p)
			}
			for _, vs := range u.Query() {
				secrets = append(secrets, vs...)
			}
		}
		s, err := storage.Open(context.Background(), raw)
		if err == nil {
			s.Close()
			return
		}
		msg := err.Error()
		var public string // what the error may name: scheme, host, path, query keys
		if u != nil {
			public = u.Scheme + "://" + u.Host + u.Path + u.Opaque
			for k := range u.Query() {
				public += " " + k
			}
		}
		for _, secret := range secrets {
			if len(secret) < 6 || strings.Contains(public, secret) {
				continue // too short to tell from the rest of the message
			}
			if strings.Contains(msg, secret) {
				t.Fatalf("Open(%q) error repeats %q: %s", raw, secret, msg)
			}
		}
	})
}
