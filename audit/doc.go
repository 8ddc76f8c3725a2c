// Package audit records what the SDK does: an Auditor interface every package
// reports to, and Log, a hash-chained, append-only trail kept in a Store with
// query, export (JSON, JSONL, CSV), verification, a metrics Dashboard and
// notifiers that fire on failures.
package audit
