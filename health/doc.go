// Package health tells a host whether its backups are safe right now: a
// Checker runs a fixed set of checks and returns a Report with an overall
// status (ok or degraded) and, per check, its status, the tenant it
// concerns, a message and the last time it passed. A degraded report names
// each failing check and tenant.
//
// The checks (the Check constants):
//
//   - store: the store is reachable and writable — storage.Probe creates a
//     probe object under storage.ProbePrefix and deletes it; a store meant
//     to be read-only (Config.ReadOnly) is listed instead, and says so.
//   - conditional_create: the store honours IfNotExist (from the same
//     probe), or the host declared a single writer.
//   - tenants: the tenants could be listed.
//   - locks, per tenant: no lock left by a dead process (not refreshed for
//     backup.LockStaleAfter); Engine.Unlock removes them.
//   - rpo, per tenant: the newest backup and newest full backup are within
//     the retention policy's RPOs (from the catalog).
//   - drill, per tenant: the latest DR drill the retention Scheduler
//     stored (retention.DrillStatus) passed, within its TTR SLO, and the
//     last successful one is not older than retention.DrillDeadline allows.
//   - audit_chain: the audit log verifies; a Check verifies only what
//     was appended since the sequence the last one reached
//     (audit.Log.VerifySince), and the whole log at the first Check and
//     every Config.AuditFullEvery (a day by default: the incremental
//     check cannot see a record verified before being edited). The report
//     says up to which sequence.
//   - key_provider: the key provider wraps and unwraps a random probe key
//     (at most every Config.KeyCheckEvery: a KMS call or an argon2id
//     derivation). An engine that cannot open a tenant's encrypted scope
//     shows as that tenant's rpo check failing to read its catalog.
//
// Checker.Handler serves the report as JSON (503 when degraded); with a
// Config.Meter, two OpenTelemetry gauges carry each check's status and
// the number of tenants it found degraded, with the check's name as their
// only attribute. examples/backupctl's "health" command prints it.
package health
