// Package repo is steward's content-addressed repository format. It knows
// nothing of tenants, releases or flags: a Repo lives under a key prefix of a
// storage.Store and keeps chunks, packs, indexes, snapshot manifests and a
// lock protocol.
//
// Layout under the prefix:
//
//	config              repository config (JSON, written once with IfNotExist)
//	key                 the wrapped data key (rewritten by Rekey, deleted by DestroyKey)
//	packs/<hh>/<id>     pack objects: chunk blobs, then an (encrypted) header
//	index/<id>          index objects: chunk ID -> pack, offset, length; a
//	                    backup's delta, index/m-<id> a compaction's merge of
//	                    deltas, index/b<id> a bundle: the index (or merged
//	                    deltas) in parts by chunk ID prefix, each read by
//	                    range only when a lookup needs it (bundle.go);
//	                    index/s<bits>-<prefix>-<id>, a shard object of the
//	                    previous format, read likewise (shard.go)
//	snapshots/<id>      snapshot manifests: the commit point, written last with IfNotExist
//	head                a hint naming the newest snapshot (an ID) and how many were
//	                    committed since the catalog's last compaction, written after
//	                    each commit and never trusted: see Head
//	catalog/<id>        summaries of snapshots, a cache folded in by backups (sealed
//	                    like other metadata): see ReadCatalog
//	locks/<id>          lock objects (shared for backups, exclusive for prune)
//
// A chunk's ID is HMAC-SHA-256 of its plaintext under a key derived from the
// scope's data key, so IDs reveal nothing of the content. A chunk is stored
// zstd-compressed unless that does not shrink it, then sealed with
// AES-256-GCM (random nonce, the chunk ID as additional data) when the
// repository is encrypted. A pack's trailer is: header, header length
// (uint32 little endian), magic "STWP1". The header lists each blob as
// ID (32 bytes), flags (1 byte), offset, stored length, plain length
// (uvarints), sealed as a whole in encrypted repositories.
//
// Commit order: packs, then the index that points into them, then the
// manifest. A crash leaves at worst unreferenced packs, which prune removes;
// a manifest that exists always has its data.
package repo
