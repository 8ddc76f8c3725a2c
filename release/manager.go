package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	"github.com/iluxsys/steward"
	"github.com/iluxsys/steward/audit"
	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	audited "github.com/iluxsys/steward/internal/op"
	recordtag "github.com/iluxsys/steward/internal/record"
	"github.com/iluxsys/steward/internal/snapshot"
	"github.com/iluxsys/steward/storage"
)

// Manager creates, deploys and rolls back releases. It is safe for
// concurrent use, across processes too (see the package doc).
type Manager struct {
	store  storage.Store
	cfg    Config
	prefix string
	clock  steward.Clock
	caps   storage.CapabilityCache
	key    recordtag.Key // tags definitions and log records
}

// writable refuses state changes on a store without conditional create
// unless the host declared a single writer.
func (m *Manager) writable(ctx context.Context, op string) error {
	if err := storage.RequireConditionalCreate(ctx, m.store, &m.caps, m.cfg.SingleWriter, "release "+op); err != nil {
		return errs.Errorf("release", "%w", err)
	}
	return nil
}

// NewManager returns a Manager keeping its state in store. A
// Config.RecordKey shorter than steward.MinRecordKey bytes is refused with
// ErrInvalidSpec.
func NewManager(store storage.Store, cfg *Config) (*Manager, error) {
	if store == nil || cfg == nil || cfg.Engine == nil {
		return nil, fmt.Errorf("%w: NewManager needs a store and Config.Engine", ErrInvalidSpec)
	}
	key, err := recordtag.New(cfg.RecordKey, "release")
	if err != nil {
		return nil, fmt.Errorf("%w: Config.RecordKey: %v", ErrInvalidSpec, err)
	}
	m := &Manager{store: store, cfg: *cfg, key: key}
	m.clock = steward.ClockOrSystem(cfg.Clock)
	m.cfg.Auditor = audit.OrNop(cfg.Auditor)
	m.cfg.Authorizer = steward.AuthorizerOrDefault(cfg.Authorizer)
	m.prefix = cfg.Prefix
	if m.prefix == "" {
		m.prefix = "releases/"
	}
	if !strings.HasSuffix(m.prefix, "/") {
		m.prefix += "/"
	}
	if m.cfg.Lease <= 0 {
		m.cfg.Lease = 30 * time.Minute
	}
	return m, nil
}

func (m *Manager) defKey(id string) string { return m.prefix + "defs/" + id + ".json" }

// Create validates spec, stores its artifact and SBOM and records the
// release. The artifact snapshot is tagged backup.TagProtected: Forget
// refuses it unless forced, and retention keeps it. Bad input (not strict semver, a version the channel already
// has, a forward migration without its backward twin, duplicate IDs, no
// artifact) is refused with a typed error before anything is written.
func (m *Manager) Create(ctx context.Context, spec Spec) (*Release, error) {
	if err := validChannel(spec.Channel); err != nil {
		return nil, err
	}
	if _, err := ParseVersion(spec.Version); err != nil {
		return nil, err
	}
	if err := validateMigrations(spec.Forward, spec.Backward); err != nil {
		return nil, err
	}
	if spec.Artifact == nil {
		return nil, fmt.Errorf("%w: a release needs an artifact (its files)", ErrInvalidSpec)
	}
	task, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseCreate, "")
	if err != nil {
		return nil, err
	}
	if err := m.writable(ctx, "create"); err != nil {
		return nil, err
	}
	id := spec.Channel + "-" + spec.Version
	if _, err := m.store.Stat(ctx, m.defKey(id)); err == nil {
		return nil, fmt.Errorf("%w: %s %s", ErrDuplicateVersion, spec.Channel, spec.Version)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	sbom, err := buildSBOM(spec, m.clock.Now())
	if err != nil {
		return nil, err
	}
	snap, err := m.cfg.Engine.Backup(ctx, backup.Releases, spec.Artifact, &backup.Options{Type: backup.Full, Tags: []string{"release:" + id, backup.TagProtected}, PlatformVersion: spec.Version})
	if err != nil {
		return nil, errs.Errorf("release", "store artifact: %w", err)
	}
	r := &Release{ID: id, Channel: spec.Channel, Version: spec.Version, Name: spec.Name, Description: spec.Description,
		Changelog: spec.Changelog, Forward: spec.Forward, Backward: spec.Backward, ArtifactSnapshot: snap.ID,
		ArtifactHash: artifactHash(snap.Checksums), BuildID: spec.BuildID, CommitSHA: spec.CommitSHA, Branch: spec.Branch,
		SBOM: sbom, CreatedAt: m.clock.Now().UTC(), CreatedBy: steward.PrincipalID(ctx)}
	for i := range r.Forward {
		r.Forward[i].Release = id
	}
	for i := range r.Backward {
		r.Backward[i].Release = id
	}
	recordtag.Stamp(m.key, m.defKey(id), r, &r.Sum)
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := storage.PutBytes(ctx, m.store, m.defKey(id), b, &storage.PutOptions{IfNotExist: true}); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return nil, fmt.Errorf("%w: %s %s", ErrDuplicateVersion, spec.Channel, spec.Version)
		}
		return nil, err
	}
	if _, err := m.append(ctx, record{Type: recCreated, Channel: r.Channel, ReleaseID: id, Version: r.Version, At: r.CreatedAt, By: r.CreatedBy}); err != nil {
		return nil, err
	}
	task.Finish(ctx, nil, audit.TypeReleaseCreated, fmt.Sprintf("release %s created", id), map[string]any{audit.DataReleaseID: id, audit.DataVersion: r.Version})
	return r, nil
}

// artifactHash is the SHA-256 over the artifact's module checksums, in
// module order: it covers every file's content and path.
func artifactHash(sums map[string]string) string {
	var mods []string
	for k := range sums {
		if k != "manifest" {
			mods = append(mods, k)
		}
	}
	slices.Sort(mods)
	h := sha256.New()
	for _, k := range mods {
		fmt.Fprintf(h, "%s=%s\n", k, sums[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func buildSBOM(spec Spec, now time.Time) (json.RawMessage, error) {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewString()
	bom.Metadata = &cdx.Metadata{Timestamp: now.UTC().Format(time.RFC3339),
		Component: &cdx.Component{Type: cdx.ComponentTypeApplication, Name: firstNonEmpty(spec.Name, spec.Channel), Version: spec.Version, BOMRef: "release"}}
	comps := []cdx.Component{} // "components": [], never null: CycloneDX consumers refuse null
	for _, c := range spec.Components {
		if c.Name == "" {
			return nil, fmt.Errorf("%w: an SBOM component has no name", ErrInvalidSpec)
		}
		cc := cdx.Component{Type: cdx.ComponentTypeLibrary, Name: c.Name, Version: c.Version, PackageURL: c.PURL, BOMRef: c.Name + "@" + c.Version}
		if len(c.Licenses) > 0 {
			var ls cdx.Licenses
			for _, l := range c.Licenses {
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{ID: l}})
			}
			cc.Licenses = &ls
		}
		comps = append(comps, cc)
	}
	bom.Components = &comps
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).Encode(bom); err != nil {
		return nil, errs.Errorf("release", "SBOM: %w", err)
	}
	return json.RawMessage(buf.Bytes()), nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Get returns release id; ErrNotFound when there is none.
func (m *Manager) Get(ctx context.Context, id string) (*Release, error) {
	if _, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseRead, ""); err != nil {
		return nil, err
	}
	return m.get(ctx, id)
}

func (m *Manager) get(ctx context.Context, id string) (*Release, error) {
	if id == "" || strings.ContainsAny(id, "/\\\x00") || strings.Contains(id, "..") {
		return nil, fmt.Errorf("%w: release %q", ErrNotFound, id)
	}
	b, err := storage.ReadAll(ctx, m.store, m.defKey(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: release %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	var r Release
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, errs.Errorf("release", "%q: %w", m.defKey(id), err)
	}
	if err := m.checkDef(m.key, &r, id); err != nil {
		return nil, err
	}
	return &r, nil
}

// checkDef verifies the tag of r, read as release id's definition, under
// k. Without a key, a definition written before tags existed (no Sum) is accepted as
// it always was; with one it carries no MAC and is refused.
func (m *Manager) checkDef(k recordtag.Key, r *Release, id string) error {
	if r.Sum != "" || k.Keyed() {
		if err := recordtag.Verify(k, m.defKey(id), r, &r.Sum); err != nil {
			return errs.Errorf("release", "definition of %q (%s): %w", id, m.defKey(id), err)
		}
	}
	if r.ID != id {
		return fmt.Errorf("release: definition %s holds release %q", m.defKey(id), r.ID)
	}
	return nil
}

// Active returns the channel's active release; ErrNotFound when none was deployed.
func (m *Manager) Active(ctx context.Context, channel string) (*Release, error) {
	if _, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseRead, ""); err != nil {
		return nil, err
	}
	st, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	id, ok := st.active[channel]
	if !ok {
		return nil, fmt.Errorf("%w: no active release in channel %q", ErrNotFound, channel)
	}
	return m.get(ctx, id)
}

// History returns the channel's releases, oldest first.
func (m *Manager) History(ctx context.Context, channel string) ([]Release, error) {
	if _, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseRead, ""); err != nil {
		return nil, err
	}
	st, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, id := range st.releases[channel] {
		r, err := m.get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// Deployments returns the newest limit deployments and rollbacks (all
// channels), newest first; limit <= 0 means all.
func (m *Manager) Deployments(ctx context.Context, limit int) ([]Deployment, error) {
	if _, err := audited.Start(ctx, m.cfg.Authorizer, m.cfg.Auditor, steward.ActionReleaseRead, ""); err != nil {
		return nil, err
	}
	st, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(st.deploys)
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// VerifyArtifact reads the release's artifact back and compares the hash
// of the bytes it read (every file's content, size and path) with the one
// recorded at creation; the snapshot's own checksums must match it too. It
// does not trust the snapshot's recorded file hashes: a snapshot whose
// content differs from what the release recorded fails with
// ErrArtifactTampered; one that is gone (forgotten, or its data pruned)
// with ErrArtifactMissing, naming the snapshot. r must come from the
// Manager (Get, Active, History), whose definitions are authenticated
// with Config.RecordKey.
func (m *Manager) VerifyArtifact(ctx context.Context, r *Release) error {
	snap, err := m.cfg.Engine.Snapshot(ctx, backup.Releases, r.ArtifactSnapshot)
	if err != nil {
		return artifactErr(r, "", err)
	}
	c := snapshot.NewChecksummer()
	for f, err := range m.cfg.Engine.Files(ctx, backup.Releases, r.ArtifactSnapshot) {
		if err != nil {
			return artifactErr(r, "", err)
		}
		if !f.Mode.IsRegular() {
			continue
		}
		sum, n, err := m.hashFile(ctx, f)
		if err != nil {
			return artifactErr(r, f.Path, err)
		}
		c.Add(f.Path, f.Mode, n, sum)
	}
	if artifactHash(c.Sums()) != r.ArtifactHash || artifactHash(snap.Checksums) != r.ArtifactHash {
		return fmt.Errorf("%w: %s", ErrArtifactTampered, r.ID)
	}
	return nil
}

// artifactErr classifies err, met reading r's artifact (file path, if
// any): what is gone is missing, anything else that fails to read back
// is tampered with; ctx's errors pass through.
func artifactErr(r *Release, path string, err error) error {
	where := fmt.Sprintf("snapshot %s of scope %s", r.ArtifactSnapshot, backup.Releases)
	if path != "" {
		where += fmt.Sprintf(", file %q", path)
	}
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return errs.Errorf("release", "verify artifact of %s: %w", r.ID, err)
	case errors.Is(err, backup.ErrNotFound):
		return fmt.Errorf("%w: the artifact of %s (%s) is gone: it was forgotten or deleted; nothing was changed (%v)", ErrArtifactMissing, r.ID, where, err)
	}
	return fmt.Errorf("%w: %s (%s): %v", ErrArtifactTampered, r.ID, where, err)
}

// Protects reports whether snapshotID of scope is the artifact of a
// release recorded in m's log: a backup.Config.Protect for the engine
// that stores the artifacts, which covers those created before Create
// tagged them backup.TagProtected. When the log or a definition cannot
// be read, or m is nil, it answers true for the Releases scope: it
// cannot tell. The Engine is made before the Manager, so wire it with a
// closure over a variable set afterwards:
//
//	var m *release.Manager
//	protect := func(ctx context.Context, scope, id string) bool { return m.Protects(ctx, scope, id) }
//	e, _ := backup.New(store, &backup.Config{Protect: protect})
//	m, _ = release.NewManager(store, &release.Config{Engine: e})
func (m *Manager) Protects(ctx context.Context, scope, snapshotID string) bool {
	if scope != backup.Releases {
		return false
	}
	if m == nil {
		return true
	}
	st, err := m.load(ctx)
	if err != nil {
		return true
	}
	for _, ids := range st.releases {
		for _, id := range ids {
			r, err := m.get(ctx, id)
			if err != nil || r.ArtifactSnapshot == snapshotID {
				return true
			}
		}
	}
	return false
}

// hashFile restores f from the Releases scope and returns the SHA-256 (hex)
// and length of the bytes read.
func (m *Manager) hashFile(ctx context.Context, f backup.File) (string, int64, error) {
	rc, err := m.cfg.Engine.OpenFile(ctx, backup.Releases, f, nil)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return hex.EncodeToString(h.Sum(nil)), n, err
}
