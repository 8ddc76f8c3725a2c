package restore

import (
	"context"
	"fmt"
	"io/fs"
	"iter"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/internal/errs"
	"github.com/iluxsys/steward/internal/snapshot"
)

// Plan is what a restore does with each path, decided before anything is
// written: the value a dry run returns (Report.Plan) and the one a restore
// then carries out, decision by decision. Make one with NewPlan; the zero
// Plan decides nothing. A Plan is not modified once made and is safe to read
// from many goroutines.
type Plan struct {
	Mode    Mode     `json:"mode"`
	Modules []string `json:"modules,omitempty"`
	Paths   []string `json:"paths,omitempty"`
	// Counts tallies Decisions: what the restore will do.
	Counts
	// Decisions holds one decision per path, in path order, for every path
	// of the snapshot (selected modules only) the restore acts on or
	// reports, and every path it removes. A directory the target already
	// holds gets none, nor does anything under a removed directory (its
	// decision's Size counts the bytes removed with it), nor a path the
	// restore leaves alone: outside the selected modules, or only in the
	// target of a merge.
	Decisions []Decision `json:"decisions"`

	// source yields the entries the plan was made from, again, for
	// carrying it out: a restore holds decisions, not the entry list.
	source   entrySource
	steps    []step  // parallel to Decisions
	decision []int32 // by entry index (in source's order): its decision's index, or -1
	dirs     []dirEntry
	links    bool // some planned entry is a hard link (backup.Entry.HardLinkTo)
}

// step is how to carry out one decision.
type step struct {
	file  int  // index of the entry in source's order; -1 for a removal
	clear bool // remove what the target holds at the path first
}

// dirEntry is a directory the plan acts on: its index in source's order
// and its entry. A plan keeps these (far fewer than files) for making
// directories first and giving them their modes and mtimes last.
type dirEntry struct {
	file int
	e    backup.Entry
}

// entrySource yields a snapshot's entries in walk order, the same entries
// in the same order at every call. A restore reads them once to plan and
// again to carry the plan out, so its memory holds one decision a path,
// not the entries' chunk lists and checksums.
type entrySource func(ctx context.Context) iter.Seq2[backup.File, error]

// sliceSource is the entrySource of entries held in memory.
func sliceSource(files []backup.File) entrySource {
	return func(context.Context) iter.Seq2[backup.File, error] {
		return func(yield func(backup.File, error) bool) {
			for _, f := range files {
				if !yield(f, nil) {
					return
				}
			}
		}
	}
}

// each calls fn with every planned entry and the index of its decision,
// reading the entries from the plan's source again. An entry that is not
// the one planned at its place (the source changed) is an error, and so
// is fn's, which stops it.
func (p *Plan) each(ctx context.Context, fn func(i int, f backup.File) error) error {
	if p.source == nil {
		return nil
	}
	k := 0
	for f, err := range p.source(ctx) {
		if err != nil {
			return err
		}
		if k >= len(p.decision) {
			return errs.Errorf("restore", "the snapshot's entry list changed while it was restored: more than the %d entries planned", len(p.decision))
		}
		if i := p.decision[k]; i >= 0 {
			if f.Path != p.Decisions[i].Path {
				return errs.Errorf("restore", "the snapshot's entry list changed while it was restored: entry %d is %q, planned as %q", k, f.Path, p.Decisions[i].Path)
			}
			if err := fn(int(i), f); err != nil {
				return err
			}
		}
		k++
	}
	if k != len(p.decision) {
		return errs.Errorf("restore", "the snapshot's entry list changed while it was restored: %d entries, %d planned", k, len(p.decision))
	}
	return nil
}

// Counts tallies decisions by action: in a Plan what a restore will do, in
// a Report what it did. Directories count only in DirsCreated.
type Counts struct {
	FilesRestored  int   `json:"files_restored"`
	BytesRestored  int64 `json:"bytes_restored"`
	DirsCreated    int   `json:"dirs_created"`
	FilesUnchanged int   `json:"files_unchanged"`
	FilesKept      int   `json:"files_kept"`
	EntriesRemoved int   `json:"entries_removed"`
	Conflicts      int   `json:"conflicts"`
}

func (c *Counts) add(d Decision) {
	switch d.Action {
	case ActionRestored:
		c.FilesRestored++
		c.BytesRestored += d.Size
	case ActionDirCreated:
		c.DirsCreated++
	case ActionUnchanged:
		c.FilesUnchanged++
	case ActionKeptNewer:
		c.FilesKept++
	case ActionRemoved:
		c.EntriesRemoved++
	case ActionConflict:
		c.Conflicts++
	}
}

// NewPlan decides, without any I/O, what a restore with opts does when
// stored holds the snapshot's entries (in walk order, as backup.Engine.Files
// yields them; paths outside a Selective restore's modules are ignored) and
// the target holds the entries target (as its Walk yields them). A target
// file counts as unchanged only when its SHA256 is set and equals the
// snapshot's, besides its size and mtime; Restore sets it for the files
// whose size and mtime match. opts.DryRun, Validate, SafetyBackup,
// AllowDelete, ContinueOnError and Progress do not change the plan; nil
// opts means a Full restore. The marker directory (MarkerDir) is ignored in
// both lists: the plan never restores, removes or counts it.
//
// Full and Selective decide: restored (missing, different, or replacing an
// entry of another type), unchanged, removed (in the target only), dir
// (a directory to create). Merge never removes or replaces: a target file
// newer than the snapshot's is kept-newer, and where the target holds an
// entry of another type than the snapshot — at the path or above it — the
// target's side is kept and the decision is conflict.
//
// The error matches ErrInvalidOptions for bad options, and names the path
// when the snapshot holds one that could leave the target ("..", absolute).
func NewPlan(stored, target []backup.File, opts *Options) (*Plan, error) {
	o := withDefaults(opts)
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	return newPlan(context.Background(), sliceSource(stored), target, &o, nil)
}

// newPlan is NewPlan over the entries src yields, read once. With hash
// set, it first sets the SHA256 of each target file whose size and mtime
// equal those of the snapshot's file at its path (hash returns its
// content's; a file it cannot read keeps none, and is restored).
func newPlan(ctx context.Context, src entrySource, target []backup.File, o *Options, hash func(string) (string, error)) (*Plan, error) {
	pl := &planner{o: o, target: make(map[string]*backup.File, len(target))}
	target, _ = withoutMarker(target)
	if o.Mode != Merge && len(target) > 0 {
		pl.inSnap = map[string]bool{} // for removals: none from an empty target
	}
	for i := range target {
		pl.target[target[i].Path] = &target[i]
	}
	k := 0
	for f, err := range src(ctx) {
		if err != nil {
			return nil, err
		}
		if err := snapshot.ValidatePath(f.Path); err != nil {
			return nil, errs.Errorf("restore", "%w", err)
		}
		if o.sel.wants(f) && !inMarker(f.Path) {
			if hash != nil {
				pl.hashCandidate(f, hash)
			}
			pl.decide(k, f)
			pl.keep(k, f)
		}
		k++
	}
	if pl.inSnap != nil {
		pl.removals(target)
	}
	return pl.plan(src, k), nil
}

// hashCandidate sets the SHA256 of the target's regular file at f's path
// when its size and mtime equal f's, so that decide can tell it unchanged.
func (pl *planner) hashCandidate(f backup.File, hash func(string) (string, error)) {
	t, ok := pl.target[f.Path]
	if !ok || !f.Mode.IsRegular() || !t.Mode.IsRegular() || t.Size != f.Size || !t.ModTime.Equal(f.ModTime) {
		return
	}
	if sum, err := hash(f.Path); err == nil {
		t.SHA256 = sum
	}
}

// keep notes what carrying the plan out needs of the entry f, index i,
// besides its decision: a directory's entry, and whether it is a hard link.
func (pl *planner) keep(i int, f backup.File) {
	if f.Mode.IsDir() {
		pl.dirs = append(pl.dirs, dirEntry{i, f.Entry})
	}
	pl.links = pl.links || f.HardLinkTo != ""
}

// planner accumulates a Plan's decisions.
type planner struct {
	o      *Options
	target map[string]*backup.File
	// inSnap holds the selected snapshot paths (true) and the directories
	// above them that the snapshot lists no entry for (false).
	inSnap map[string]bool
	// decisions and steps grow together, in the order decided.
	decisions []Decision
	steps     []step
	dirs      []dirEntry
	links     bool
}

func (pl *planner) add(d Decision, file int, clear bool) {
	pl.decisions = append(pl.decisions, d)
	pl.steps = append(pl.steps, step{file, clear})
}

// decide plans the snapshot's entry f, its index i.
func (pl *planner) decide(i int, f backup.File) {
	pl.markInSnapshot(f.Path)
	t, has := pl.target[f.Path]
	if pl.o.Mode == Merge {
		if reason := pl.conflict(f, t); reason != "" {
			pl.add(Decision{Path: f.Path, Action: ActionConflict, Reason: reason, Size: f.Size}, i, false)
			return
		}
	}
	if f.Mode.IsDir() {
		switch {
		case !has:
			pl.add(Decision{Path: f.Path, Action: ActionDirCreated, Reason: "missing from the target"}, i, false)
		case !t.Mode.IsDir():
			pl.add(Decision{Path: f.Path, Action: ActionDirCreated, Reason: "target held a " + kind(t.Mode)}, i, true)
		}
		return
	}
	restore := func(reason string, clear bool) {
		pl.add(Decision{Path: f.Path, Action: ActionRestored, Reason: reason, Size: f.Size}, i, clear)
	}
	switch {
	case !has:
		restore("missing from the target", false)
	case !t.Mode.IsRegular():
		restore("target held a "+kind(t.Mode), true)
	case t.Size == f.Size && t.ModTime.Equal(f.ModTime) && t.SHA256 != "" && t.SHA256 == f.SHA256:
		// Size and mtime alone are not proof: two files written in one
		// clock tick share an mtime. The content hash decides.
		pl.add(Decision{Path: f.Path, Action: ActionUnchanged, Reason: "same content", Size: f.Size}, i, false)
	case pl.o.Mode == Merge && t.ModTime.After(f.ModTime):
		pl.add(Decision{Path: f.Path, Action: ActionKeptNewer, Size: f.Size,
			Reason: fmt.Sprintf("target modified %s, snapshot %s", t.ModTime.UTC().Format(time.RFC3339), f.ModTime.UTC().Format(time.RFC3339))}, i, false)
	default:
		restore("differs from the snapshot", false)
	}
}

// conflict tells why a merge cannot restore f without replacing local
// data (t, nil when the target lacks f.Path): the target holds an entry of
// another type at f.Path, or something other than a directory above it.
// It returns "" when there is no conflict.
func (pl *planner) conflict(f backup.File, t *backup.File) string {
	if t != nil {
		if t.Mode.Type() == f.Mode.Type() {
			return ""
		}
		return fmt.Sprintf("the target holds a %s where the snapshot has a %s; the target's is kept", kind(t.Mode), kind(f.Mode))
	}
	if len(pl.target) == 0 {
		return ""
	}
	for dir := path.Dir(f.Path); dir != "."; dir = path.Dir(dir) {
		if a, ok := pl.target[dir]; ok {
			if a.Mode.IsDir() {
				return "" // so are the directories above it
			}
			return fmt.Sprintf("under %q, which the target holds as a %s; the target's is kept", dir, kind(a.Mode))
		}
	}
	return ""
}

// markInSnapshot records p and the directories above it as the snapshot's,
// so that a full restore keeps them even when the snapshot lists no entry
// for a directory.
func (pl *planner) markInSnapshot(p string) {
	if pl.inSnap == nil { // a merge, or an empty target
		return
	}
	pl.inSnap[p] = true
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if _, ok := pl.inSnap[dir]; ok {
			return
		}
		pl.inSnap[dir] = false
	}
}

// removals plans the removal of the target's selected entries that are not
// the snapshot's (a directory above a snapshot path stays, anything else
// there goes): only the topmost of each removed tree gets a decision,
// whose Size counts the bytes of the files under it.
func (pl *planner) removals(target []backup.File) {
	gone := map[string]int{} // removed path -> index in pl.decisions, -1 below another
	for _, t := range target {
		exact, listed := pl.inSnap[t.Path]
		if pl.o.sel.covers(t.Path) && (!listed || !exact && !t.Mode.IsDir()) {
			gone[t.Path] = -1
		}
	}
	if len(gone) == 0 {
		return
	}
	top := func(p string) string {
		t := p
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, ok := gone[dir]; ok {
				t = dir
			}
		}
		return t
	}
	for _, t := range target {
		if _, ok := gone[t.Path]; ok && top(t.Path) == t.Path {
			gone[t.Path] = len(pl.decisions)
			pl.add(Decision{Path: t.Path, Action: ActionRemoved, Reason: "not in the snapshot"}, -1, false)
		}
	}
	for _, t := range target {
		if _, ok := gone[t.Path]; ok && t.Mode.IsRegular() {
			pl.decisions[gone[top(t.Path)]].Size += max(t.Size, 0) // a size a Target cannot know (SizeUnknown) counts 0
		}
	}
}

// plan sorts the decisions by path and returns them as a Plan of the n
// entries src yields.
func (pl *planner) plan(src entrySource, n int) *Plan {
	pl.sortByPath()
	p := &Plan{Mode: pl.o.Mode, Modules: pl.o.Modules, Paths: pl.o.Paths, source: src,
		Decisions: pl.decisions, steps: pl.steps, decision: make([]int32, n), dirs: pl.dirs, links: pl.links}
	for k := range p.decision {
		p.decision[k] = -1
	}
	for i, d := range p.Decisions {
		p.Counts.add(d)
		if f := p.steps[i].file; f >= 0 {
			p.decision[f] = int32(i)
		}
	}
	return p
}

// sortByPath puts the decisions (and their steps) in path order, which
// walk order mostly is already (not where a name sorts before "/").
func (pl *planner) sortByPath() {
	byPath := func(a, b Decision) int { return strings.Compare(a.Path, b.Path) }
	if slices.IsSortedFunc(pl.decisions, byPath) {
		return
	}
	order := make([]int, len(pl.decisions))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return byPath(pl.decisions[a], pl.decisions[b]) })
	ds, ss := make([]Decision, len(order)), make([]step, len(order))
	for i, j := range order {
		ds[i], ss[i] = pl.decisions[j], pl.steps[j]
	}
	pl.decisions, pl.steps = ds, ss
}

// kind names the type of an entry in a decision's reason.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "file"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	default:
		return "special file"
	}
}
