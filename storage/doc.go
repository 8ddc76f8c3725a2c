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
package storage
