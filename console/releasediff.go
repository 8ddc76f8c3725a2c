package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/iluxsys/steward/release"
)

// componentChange is one SBOM component that differs between two releases.
type componentChange struct {
	Name     string
	From, To string // versions; "" where the component is absent
}

// releaseDiff is the release diff page's data: what moving from From to
// To changes.
type releaseDiff struct {
	From, To       *release.Release
	SameArtifact   bool
	MigrationsFrom []release.Migration // forward migrations of From that To lacks
	MigrationsTo   []release.Migration // forward migrations of To that From lacks
	Components     []componentChange
	SBOMError      string // an SBOM that cannot be read
}

// releaseDiffPage compares two releases (?a=&b=): their artifacts, the
// forward migrations only one has, and their SBOMs' components.
func (c *console) releaseDiffPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Releases == nil {
		c.notConfigured(w, r, "releases", "The release Manager")
		return
	}
	ctx, q := r.Context(), r.URL.Query()
	d := releaseDiff{}
	var err error
	if d.From, err = c.cfg.Releases.Get(ctx, q.Get("a")); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.To, err = c.cfg.Releases.Get(ctx, q.Get("b")); err != nil {
		c.fail(w, r, err)
		return
	}
	d.SameArtifact = d.From.ArtifactHash == d.To.ArtifactHash
	d.MigrationsFrom, d.MigrationsTo = onlyIn(d.From.Forward, d.To.Forward), onlyIn(d.To.Forward, d.From.Forward)
	if d.Components, err = diffSBOM(d.From.SBOM, d.To.SBOM); err != nil {
		d.SBOMError = err.Error()
	}
	c.render(w, r, http.StatusOK, "releasediff", "", page{Title: "Release " + d.From.Version + " → " + d.To.Version, Nav: "releases", Data: d})
}

// onlyIn returns the migrations of a whose IDs b lacks.
func onlyIn(a, b []release.Migration) []release.Migration {
	var out []release.Migration
	for _, m := range a {
		if !slices.ContainsFunc(b, func(o release.Migration) bool { return o.ID == m.ID }) {
			out = append(out, m)
		}
	}
	return out
}

// diffSBOM compares the components of two CycloneDX JSON SBOMs by name.
func diffSBOM(a, b json.RawMessage) ([]componentChange, error) {
	from, err := sbomComponents(a)
	if err != nil {
		return nil, err
	}
	to, err := sbomComponents(b)
	if err != nil {
		return nil, err
	}
	var out []componentChange
	for name, v := range from {
		if to[name] != v {
			out = append(out, componentChange{Name: name, From: v, To: to[name]})
		}
	}
	for name, v := range to {
		if _, ok := from[name]; !ok {
			out = append(out, componentChange{Name: name, To: v})
		}
	}
	slices.SortFunc(out, func(x, y componentChange) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// sbomComponents maps an SBOM's component names to their versions.
func sbomComponents(raw json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 {
		return out, nil
	}
	var doc struct {
		Components []struct{ Name, Version string } `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	for _, c := range doc.Components {
		out[c.Name] = c.Version
	}
	return out, nil
}
