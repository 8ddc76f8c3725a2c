// Command quickstart runs steward's main job on an embedded default: a
// file:// store in a temporary directory. It backs up a tenant (full, then
// incremental after a change), lists the catalog, validates the newest
// snapshot, restores it into a fresh directory and checks every byte.
//
//	go run ./examples/quickstart
package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/restore"
	"github.com/iluxsys/steward/storage"
)

func main() {
	if err := run(); err != nil {
		log.Fatal("quickstart: ", err)
	}
}

func run() error {
	work, err := os.MkdirTemp("", "steward-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The host authenticates its operator and hands the SDK a principal.
	ctx := steward.WithPrincipal(context.Background(), steward.Principal{ID: "quickstart", Roles: []string{steward.RoleMaster}})

	store, err := storage.Open(ctx, "file://"+filepath.ToSlash(filepath.Join(work, "store")))
	if err != nil {
		return err
	}
	defer store.Close()
	engine, err := backup.New(store, &backup.Config{
		// Each tenant gets its own random data key, wrapped by this passphrase.
		Keys: backup.Passphrase("correct horse battery staple"),
	})
	if err != nil {
		return err
	}

	// A tenant's data: one directory per module.
	data := filepath.Join(work, "acme")
	files := map[string]string{
		"users/1.json":          `{"name":"Ana","role":"owner"}`,
		"users/2.json":          `{"name":"Bruno","role":"staff"}`,
		"reservations/2026.csv": "id,room,guest\n1,101,Ana\n2,102,Bruno\n",
		"config/settings.yaml":  "currency: EUR\nlocale: pt-PT\n",
		"assets/logo.svg":       `<svg xmlns="http://www.w3.org/2000/svg"/>`,
	}
	for p, content := range files {
		if err := write(filepath.Join(data, p), content); err != nil {
			return err
		}
	}

	full, err := engine.Backup(ctx, "acme", backup.DirSource(data), &backup.Options{
		Type: backup.Full, Encrypt: true, TenantName: "Acme Hotels",
		PlatformVersion: "4.2.0", SchemaVersion: "2026.1",
	})
	if err != nil {
		return err
	}
	fmt.Printf("full backup        %s  %d files, %d bytes, %d stored\n", full.ID, full.Metadata.FileCount, full.Metadata.SizeBytes, full.Metadata.StoredBytes)

	// Change one file, add another, and take an incremental.
	time.Sleep(10 * time.Millisecond)
	files["reservations/2026.csv"] += "3,201,Carla\n"
	files["users/3.json"] = `{"name":"Carla","role":"guest"}`
	for _, p := range []string{"reservations/2026.csv", "users/3.json"} {
		if err := write(filepath.Join(data, p), files[p]); err != nil {
			return err
		}
	}
	incr, err := engine.Backup(ctx, "acme", backup.DirSource(data), &backup.Options{Type: backup.Incremental, Encrypt: true})
	if err != nil {
		return err
	}
	fmt.Printf("incremental backup %s  %d files, %d new bytes stored (parent %s)\n", incr.ID, incr.Metadata.FileCount, incr.Metadata.StoredBytes, incr.Parent)

	catalog, err := engine.Catalog(ctx, "acme")
	if err != nil {
		return err
	}
	fmt.Println("catalog (newest first):")
	for _, s := range catalog {
		fmt.Printf("  %s  %-11s  %s  users=%s…\n", s.ID, s.Type, s.Timestamp.Format(time.RFC3339), s.Checksums["users"][:12])
	}

	restorer := restore.New(engine, nil)
	v, err := restorer.Validate(ctx, "acme", "latest")
	if err != nil {
		return err
	}
	fmt.Printf("validation         %s (%s)\n", v.Status, v.Report)

	out := filepath.Join(work, "restored")
	rep, err := restorer.Restore(ctx, "acme", "latest", restore.DirTarget(out), &restore.Options{Mode: restore.Full, Validate: true})
	if err != nil {
		return err
	}
	for p, content := range files {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, []byte(content)) {
			return fmt.Errorf("restored %s differs from the original", p)
		}
	}
	fmt.Printf("restore            %d files, %d bytes in %s; every byte equals the original\n", rep.FilesRestored, rep.BytesRestored, rep.Duration.Round(time.Millisecond))
	return nil
}

func write(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}
