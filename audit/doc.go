// Package audit records what the SDK does: an Auditor interface every package
// reports to, and Log, a hash-chained, append-only trail kept in a Store with
// query, export (JSON, JSONL, CSV), verification and a Dashboard of figures.
//
// # Events and failures
//
// An Event has an EventType (the Type constants for the SDK's own events,
// stored as the plain string), a Level and Data. Most operations record
// their failures under the same type as their successes
// ("repo.initialized", "retention.applied", "flag.changed", ...), with
// LevelError and Data[DataError]. Event.Failed is the one rule that says
// whether an event records a failure (LevelError, a DataError, or a type
// only failures have), and every consumer applies it: the Dashboard (its
// Events section counts failures of every type), exports (an "outcome"
// field and CSV column, Filter.FailuresOnly), DefaultNotifyFilter, the Slog
// and SMTP notifiers, and Metered.
//
// # Wrappers
//
// Behaviour added to an Auditor is a wrapper with Unwrap, so it works over
// any Auditor, a host's own included:
//
//   - Notifying passes the events a filter selects (failures and RPO
//     breaches by default) to Notifiers: Webhook, SMTP, Slog.
//   - Metered measures events in OpenTelemetry instruments: the counter
//     steward.audit.events (attributes type, level and outcome, with
//     bounded cardinality and no tenant) and the histograms
//     steward.backup.duration and steward.restore.ttr of successful
//     backups and restores, in ms.
//
// A host builds the chain once and hands it to every package, e.g.
//
//	log, _ := audit.NewLog(ctx, store, cfg)
//	metered, _ := audit.Metered(log, meterProvider.Meter("steward"))
//	var aud audit.Auditor = audit.Notifying(metered, nil, nil, audit.Slog{})
//
// # What the log guarantees
//
// With LogConfig.RecordKey (a secret the host holds, never stored), against
// someone who can write the Store but holds no key:
//
//   - Every record carries a MAC bound to its object key. Reading the log
//     (Verify, Events, Query, Export, Dashboard, NewLog's tail) refuses a
//     forged, edited, moved or re-chained record with a *TamperError that
//     matches ErrTampered and steward.ErrForged and names its sequence
//     number.
//   - Verify refuses a removed or reordered event, a signed checkpoint that
//     is missing (one is due at every multiple of CheckpointEvery; only the
//     newest may be missing, after a crash, and NewLog rewrites it) or fails
//     its MAC, and a tail cut below a stored checkpoint.
//   - A tail cut together with the checkpoints above it is detected only
//     against a checkpoint kept outside the Store: OnCheckpoint hands each
//     one to the host, VerifyFrom checks the log against it (or against
//     Head, kept elsewhere).
//   - Records written before the key existed carry no MAC. They are
//     accepted while a record written with the key follows them, since its
//     chain hash pins every record before it; until then, and for a record
//     without MAC after one with it, reads refuse the log. Record one event
//     with the key after configuring it.
//
// Without a key the chain is an unkeyed SHA-256: it detects damage and
// careless edits, not a store writer who rewrites the chain consistently
// or cuts its tail, and no checkpoints are written. Keep a copy of Head
// outside the Store and use VerifyFrom to detect a rewrite up to it.
package audit
