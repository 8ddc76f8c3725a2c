package console

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
)

// dirEntry is one line of the file browser.
type dirEntry struct {
	Name, Path string
	Dir        bool
	File       *backup.File // nil for a directory known only from its contents
}

// dirListing is the file browser's data.
type dirListing struct {
	Tenant, ID, Dir string
	Parent          string // "" at the root
	Crumbs          []dirEntry
	Entries         []dirEntry
	CanRestore      bool // the principal may restore the tenant: entries can be ticked for a restore
}

// snapshotFiles lists one directory of a snapshot (?dir=users/a; the root
// when empty): its subdirectories first, then its files with sizes and
// checksums and a download link each. A principal who may restore the
// tenant can tick entries and plan a restore of only those (a selective
// restore with restore.Options.Paths).
func (c *console) snapshotFiles(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Engine == nil {
		c.notConfigured(w, r, "snapshots", "The backup engine")
		return
	}
	d := dirListing{Tenant: r.PathValue("tenant"), ID: r.PathValue("id"), Dir: strings.Trim(r.URL.Query().Get("dir"), "/")}
	entries, err := c.listDir(r.Context(), d.Tenant, d.ID, d.Dir)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Entries, d.Crumbs = entries, crumbs(d.Dir)
	d.CanRestore = c.cfg.Restorer != nil && c.cfg.Target != nil && c.allowed(r.Context(), steward.ActionRestore, d.Tenant)
	c.render(w, r, http.StatusOK, "files", "", page{Title: "Files of " + d.ID, Nav: "snapshots", Data: d})
}

// listDir returns the children of dir in the snapshot's entry list.
func (c *console) listDir(ctx context.Context, tenant, id, dir string) ([]dirEntry, error) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	children := map[string]*dirEntry{}
	for f, err := range c.cfg.Engine.Files(ctx, tenant, id) {
		if err != nil {
			return nil, err
		}
		rest, ok := strings.CutPrefix(f.Path, prefix)
		if !ok || rest == "" {
			continue
		}
		name, below, _ := strings.Cut(rest, "/")
		e := children[name]
		if e == nil {
			e = &dirEntry{Name: name, Path: prefix + name}
			children[name] = e
		}
		if below != "" || f.Mode.IsDir() {
			e.Dir = true
		} else {
			e.File = &f
		}
	}
	out := make([]dirEntry, 0, len(children))
	for _, e := range children {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b dirEntry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out, nil
}

// crumbs are the links from the root to dir.
func crumbs(dir string) []dirEntry {
	if dir == "" {
		return nil
	}
	var out []dirEntry
	parts := strings.Split(dir, "/")
	for i, p := range parts {
		out = append(out, dirEntry{Name: p, Path: strings.Join(parts[:i+1], "/"), Dir: true})
	}
	return out
}

// download streams one regular file of a snapshot (?path=) through
// Engine.OpenFile, which verifies every chunk. A verification failure
// after the first byte was sent aborts the connection, so the client
// never mistakes a damaged download for a complete one.
func (c *console) download(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Engine == nil {
		c.notConfigured(w, r, "snapshots", "The backup engine")
		return
	}
	ctx, tenant, id, p := r.Context(), r.PathValue("tenant"), r.PathValue("id"), r.URL.Query().Get("path")
	f, err := c.findFile(ctx, tenant, id, p)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	rc, err := c.cfg.Engine.OpenFile(ctx, tenant, f, nil)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", attachment(path.Base(f.Path)))
	if f.Size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	}
	if _, err := io.Copy(w, rc); err != nil {
		slog.ErrorContext(ctx, "console: download failed", "tenant", tenant, "snapshot", id, "path", f.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// findFile returns the regular file at p in the snapshot.
func (c *console) findFile(ctx context.Context, tenant, id, p string) (backup.File, error) {
	for f, err := range c.cfg.Engine.Files(ctx, tenant, id) {
		if err != nil {
			return backup.File{}, err
		}
		if f.Path != p {
			continue
		}
		if !f.Mode.IsRegular() {
			return backup.File{}, fmt.Errorf("console: %q in snapshot %s is not a regular file: %w", p, id, errNotFound)
		}
		return f, nil
	}
	return backup.File{}, fmt.Errorf("console: snapshot %s of tenant %q has no file %q: %w", id, tenant, p, errNotFound)
}

// attachment is a Content-Disposition that saves the response as name, or
// under a name the browser picks when name cannot be written in the header
// (a name that is not UTF-8).
func attachment(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return "attachment"
}
