// Package restore brings snapshots back: full (the target ends equal to the
// snapshot), selective (only the chosen modules, or the files and
// directories named in Options.Paths, are replaced) and merge
// (missing files restored, newer files in the target kept) restores into a
// Target — a directory confined by os.Root, or memory — plus validation
// drills that restore into a scratch target and report checksum, integrity,
// schema and completeness verdicts. A drill streams: each chunk and file is
// verified as it is read, then dropped, so a drill needs the restore's chunk
// buffers (Config.BufferBytes), not memory for the snapshot.
//
// Every chunk restored is verified against its ID (by its AES-GCM tag in an
// encrypted scope, by hashing it in a plain one) and every file against its
// SHA-256 before it is published under its final name; a
// restore that fails leaves no half-written file behind, and running it
// again skips what is already in place.
//
// A restore plans, then executes. NewPlan is a pure function of the
// snapshot's entries, the target's entries and the options: it returns a
// Plan with one Decision per path (restore, keep as unchanged or newer,
// remove, or — in a merge, where the target holds an entry of another type —
// conflict, keeping the target's side), and the restore then carries out
// exactly that plan. Options.DryRun returns the plan in Report.Plan and
// writes nothing.
//
// A Full restore deletes only what the caller allowed: it removes the
// entries its snapshot lacks from a target that was empty, that a previous
// restore of the same tenant created (marked by MarkerDir at the target's
// root), or when Options.AllowDelete is set; otherwise it fails with
// ErrWouldDelete before writing anything, and a dry run shows the removals
// (Report.WouldRefuse). Options.ContinueOnError salvages a damaged
// snapshot: every intact file is restored, each file that cannot be read
// whole is skipped and listed in Report.Damaged with the object at fault,
// and the restore returns an error matching ErrDamaged.
//
// Hard links are restored as links when the restore writes both paths: a
// file whose entry names an earlier path of the same file
// (backup.Entry.HardLinkTo, set by backup.DirSource) is linked to that
// path once it is complete, inside the target (DirTarget, with
// os.Root.Link), when the restore writes that path too and the two
// entries agree on mode, size, content and mtime. Otherwise — the first
// path is outside a Selective restore's selection or left in place by a
// Merge or a rerun, the link fails, or the Target cannot link
// (MemoryTarget, a host's own) — the file is written as a copy from its
// own content, which every such entry keeps.
package restore
