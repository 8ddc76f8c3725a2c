// Package storage is the one seam between steward and the bytes it keeps: a
// small Store interface, an adapter over gocloud.dev/blob (file://, mem://,
// and s3://, gs://, azblob:// when the host imports storage/cloud), and
// decorators that wrap a Store (retries, read-only, fault injection in tests).
//
// Errors are translated once, here, into a few sentinels — ErrNotFound,
// ErrExists, ErrPermission, ErrInvalidKey — wrapped in an *Error that names
// the operation and the key. Context errors pass through unchanged.
//
// Conditional create (PutOptions.IfNotExist) is the one coordination
// primitive the rest of the SDK builds commit points, locks and append-only
// logs on.
//
// A Store may offer more than the interface, through optional interfaces
// its wrappers pass on: KeyLister lists keys without sizes and several
// prefixes at once, Stager takes a file the caller wrote as an object
// without copying it (a directory store on Linux: the packs a backup
// writes are filled in place). Callers use them through ListKeys and
// Stage, which fall back to the plain Store.
package storage
