// Package steward is an embeddable SDK that keeps a multi-tenant platform's
// data safe and its releases reversible.
//
// A host application imports the packages it needs:
//
//	storage           Store: one small interface over gocloud.dev/blob (file://, mem://,
//	                  s3://, gs://, azblob://) with conditional create, range reads,
//	                  retries, and a conformance suite (storage/storetest).
//	backup            Engine: full and incremental snapshots of a tenant (or of the
//	                  shared "general" structure), deduplicated, zstd-compressed and
//	                  AES-256-GCM encrypted with a key per tenant; a browsable catalog
//	                  with SHA-256 checksums per module.
//	restore           Restorer: full, selective (chosen modules) and merge restores
//	                  into a Target, validation and disaster-recovery drills.
//	retention         Policy, Plan (pure keep/forget decisions with reasons), Apply
//	                  (forget + prune), Check, and a cron Scheduler with RPO alerts.
//	release           Manager: semver releases with immutable artifacts and a
//	                  CycloneDX SBOM, forward/backward SQL migrations, deploy with
//	                  checks and safety backups, rollback to any earlier release.
//	flags             Set: feature flags with sticky percentage rollout and tenant
//	                  targeting; flags/openfeature exposes it as an OpenFeature provider.
//	audit             Auditor and a hash-chained, append-only Log with query, export
//	                  (JSON, JSONL, CSV), verification, a metrics Dashboard and
//	                  notifiers that fire on failures.
//
// This root package holds the vocabulary every other package shares: the
// Clock, the Principal carried in a context, the Authorizer that guards every
// operation (MasterOnly by default), tenant ID rules and the shared errors.
package steward
