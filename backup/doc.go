// Package backup takes, catalogs and reads snapshots of a tenant's data
// (or of the platform's General structure, or of release artifacts) in a
// content-addressed, deduplicated, compressed and optionally encrypted
// repository on a storage.Store.
//
// # Scopes and layout
//
// Each scope is one repository (see internal/repo for the object format):
//
//	tenants/<tenant>/     a tenant (IDs checked by steward.ValidateTenant before any I/O)
//	general/              the General scope
//	releases/artifacts/   the Releases scope
//	registry/tenants/<t>  one small object per tenant, so Tenants lists without scanning
//
// A scope's repository is created by its first Engine.Backup, or without a
// backup by Engine.Init (its config and data key, the key wrapped when the
// scope is encrypted), so that an encrypted scope and its passphrase can be
// set up first. Init of a scope that already has a repository changes
// nothing and returns an error matching ErrExists.
//
// # Backups
//
// Engine.Backup walks a Source once, in lexical path order. Parallelism
// workers read files, split them into content-defined chunks (FastCDC,
// ~1 MiB average, 256 KiB..4 MiB), name each chunk by HMAC-SHA-256 under the
// scope key, and store the new ones zstd-compressed (when that shrinks them)
// and AES-256-GCM-sealed (in encrypted scopes) into ~16 MiB packs. The entry
// list (path, size, mode, mtime, SHA-256, chunk IDs) is stored in segments
// of about 20 entries, cut where a path's keyed hash says, and the list of
// segment IDs is chunked like file content: an unchanged tree costs no new
// chunk, and a changed file rewrites its segment and the part of the list
// naming it, wherever it is in the tree. Packs,
// then the index, then the manifest are written; the manifest, written with
// IfNotExist, is the commit point: a failed or cancelled backup leaves no
// visible snapshot, only unreferenced packs that Prune removes.
//
// Full re-reads every file. Incremental compares size, mtime and mode with
// the newest snapshot (or the newest at or before Options.Since) and reuses
// the chunk list of unchanged files without opening them; every manifest is
// complete, so any snapshot restores or is forgotten on its own.
//
// # Checksums
//
// File.SHA256 is the SHA-256 of a file's content. A module (the first path
// element) has checksum SHA-256 over one line per regular file,
// "<sha256 hex>  <size>  <path>\n", in entry-list (lexical) order; restores
// recompute it from what they wrote. The manifest checksum
// (Checksums["manifest"]) is the SHA-256 of the manifest's JSON with that
// field empty; every manifest read is verified against it.
//
// # Keys
//
// Each scope has a random 256-bit data key. Unencrypted scopes store it in
// clear (it keys chunk IDs and the chunker, not secrecy). Encrypted scopes
// store it wrapped by a KeyProvider: Passphrase (argon2id; the parameters
// and salt are recorded in the wrapped-key blob) or Keeper (any
// gocloud.dev/secrets Keeper: KMS, Vault, localsecrets). A provider that
// cannot unwrap gives ErrWrongKey. Engine.Rekey rewraps the data key without
// touching data; Engine.DestroyKey deletes it (crypto-erasure): afterwards
// every snapshot of the scope fails with ErrKeyDestroyed, for anyone.
//
// # Concurrency and locks
//
// An Engine is safe for concurrent use. A backup holds a shared lock on its
// scope (an object under locks/ written with IfNotExist, refreshed, stale
// after LockStaleAfter, removed at the end); Prune and RepairIndex take the
// exclusive lock, so backups and prune exclude each other across processes
// (ErrLocked, as a *LockedError naming the holder and when its lock goes
// stale). Engine.Unlock removes the locks of killed processes.
//
// # Repair
//
// An index object that fails to open or decode makes every operation on
// its scope fail with ErrCorrupt, naming it and suggesting
// Engine.RepairIndex, which rebuilds the index from the packs' headers.
//
// # Authorization and audit
//
// Every operation authorizes first (Config.Authorizer, MasterOnly by
// default) and records audit events through Config.Auditor with the
// principal's ID, on success and failure.
package backup
