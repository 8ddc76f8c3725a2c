package restore

import (
	"fmt"
	"io/fs"
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

	snapshot []backup.File // the entries NewPlan was given
	steps    []step        // parallel to Decisions
}

// step is how to carry out one decision.
type step struct {
	file  int  // index in Plan.snapshot; -1 for a removal
	clear bool // remove what the target holds at the path first
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
	pl := &planner{o: &o, target: make(map[string]*backup.File, len(target)), out: make([]planned, 0, len(stored))}
	if o.Mode != Merge {
		pl.inSnap = make(map[string]bool, len(stored))
	}
	target, _ = withoutMarker(target)
	for i := range target {
		pl.target[target[i].Path] = &target[i]
	}
	for i, f := range stored {
		if err := snapshot.ValidatePath(f.Path); err != nil {
			return nil, errs.Errorf("restore", "%w", err)
		}
		if o.sel.wants(f) && !inMarker(f.Path) {
			pl.decide(i, f)
		}
	}
	if o.Mode != Merge {
		pl.removals(target)
	}
	return pl.plan(stored), nil
}

// planner accumulates a Plan's decisions.
type planner struct {
	o      *Options
	target map[string]*backup.File
	// inSnap holds the selected snapshot paths (true) and the directories
	// above them that the snapshot lists no entry for (false).
	inSnap map[string]bool
	out    []planned
}

type planned struct {
	d Decision
	s step
}

func (pl *planner) add(d Decision, file int, clear bool) {
	pl.out = append(pl.out, planned{d, step{file, clear}})
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
	if pl.o.Mode == Merge {
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
	gone := map[string]int{} // removed path -> index in pl.out, -1 below another
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
			gone[t.Path] = len(pl.out)
			pl.add(Decision{Path: t.Path, Action: ActionRemoved, Reason: "not in the snapshot"}, -1, false)
		}
	}
	for _, t := range target {
		if _, ok := gone[t.Path]; ok && t.Mode.IsRegular() {
			pl.out[gone[top(t.Path)]].d.Size += max(t.Size, 0) // a size a Target cannot know (SizeUnknown) counts 0
		}
	}
}

// plan sorts the decisions by path and returns them as a Plan.
func (pl *planner) plan(stored []backup.File) *Plan {
	byPath := func(a, b planned) int { return strings.Compare(a.d.Path, b.d.Path) }
	if !slices.IsSortedFunc(pl.out, byPath) { // walk order mostly is
		slices.SortFunc(pl.out, byPath)
	}
	p := &Plan{Mode: pl.o.Mode, Modules: pl.o.Modules, Paths: pl.o.Paths, snapshot: stored,
		Decisions: make([]Decision, len(pl.out)), steps: make([]step, len(pl.out))}
	for i, x := range pl.out {
		p.Decisions[i], p.steps[i] = x.d, x.s
		p.Counts.add(x.d)
	}
	return p
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
