// Package console is steward's admin web UI: one http.Handler over the
// SDK's packages that a host mounts in its own server.
//
// Pages: the Overview (each tenant's last backup against its RPO, success
// rates over 24 hours and 7 days, time to restore, the repository's growth
// as an SVG sparkline; failed tenants first, then stale ones), Snapshots
// (filters by tenant, type and tag; details with modules, sizes and
// checksums; a file browser; downloads streamed through
// backup.Engine.OpenFile, which verifies every chunk; a diff of two
// snapshots), a Restore wizard (tenant, snapshot, mode and modules or the
// files and directories ticked in the file browser, the
// dry-run plan, confirmation by typing the tenant ID, then the restore in
// the background with live progress and its report, which names the safety
// backup taken first), Flags (toggle, rollout, target tenants, a
// playground, each flag's history), Audit (filters, the chain's
// verification, JSONL and CSV export), Releases (a timeline per channel,
// deploy and rollback with a required reason, a diff of two releases) and
// Retention (a tenant's keep rules edited with a live preview of what
// would be kept and forgotten, and why). Lists paginate.
//
// A confirmed restore runs in the handler's process, detached from the
// request that started it; its page lives in memory (the last 100 restores)
// and only its principal sees it. The page follows the restore's progress
// on a stream of server-sent events (GET .../restore/jobs/{id}/events,
// read by the embedded console.js) and loads the report when it ends;
// without JavaScript it reloads itself every two seconds. A restart loses the page, not the
// restore's audit record. Deploys and rollbacks record the reason given in
// the audit log (EventDeployRequested, EventRollbackRequested) before the
// Manager runs them.
//
// # Access
//
// Config.Authenticate identifies the principal of every request; the
// console puts it in the request's context with steward.WithPrincipal, so
// every SDK call authorizes it again and audits what it changes. Lists show
// only the tenants Config.Authorizer lets the principal read: a
// tenant-scoped principal never sees another tenant's name, and acting on
// one is refused with 403. Every POST must carry the principal's CSRF token
// (an HMAC of its ID under a key drawn by New) in a form field or the
// X-CSRF-Token header that htmx sends; one without it is refused with 403
// before anything runs.
//
// # Speed
//
// The console keeps the tenant list, each tenant's catalog and RPO, a
// summary of the audit log and an index of its events in memory, and the
// audit log keeps them current: each request first reads the events
// appended since the last one (two reads when there are none, whichever
// process appended them) and forgets what those events' tenants had. So
// the Engine and the Policies must audit to Config.Log. The server reads
// the log for this with its own rights (audit.Log.Follow), whoever the
// principal; what a page takes from memory is authorized for its
// principal tenant by tenant, and the events the Audit page lists are
// read again with the principal's rights (audit.Log.At), so a
// tenant-scoped principal's Overview and Audit page are served from the
// same index as the master's and show only its tenants' events. The Audit
// page pages through the matching events with Newer and Older links
// (naming the event at the page's edge), reading one record an event it
// shows. The first request that needs the audit log's history (the
// Overview, the Audit page past its first page or with a filter, a flag's
// history, the Releases page) reads the whole log once; the first page of
// the whole log is read from its tail until then.
// Principals that may not list every tenant's backups read their own
// tenants' catalogs.
//
// Those first reads take seconds at a thousand tenants. A host that sets
// Config.WarmAs has them made in the background from New on, as that
// principal (one of its own, which may list every tenant's backups):
// the log's history, the tenant list, each tenant's catalog and RPO, and
// (when it may read the whole log) one walk of the audit chain, so the
// first chain status checks only the events appended since. The
// warm principal only fills the cache; it answers no request, each page
// taking from the cache what its own principal may read, as above. A
// request that needs a catalog being read waits for that read rather than
// reading it again.
//
// # No build step
//
// Pages are html/template files embedded in the binary and parsed by New;
// partial updates use htmx 2 (one vendored file, served from the handler).
// Every form also works without JavaScript. Responses carry a
// Content-Security-Policy that allows scripts and styles only from the
// console itself (no inline script, no eval) and forbids framing, and
// X-Content-Type-Options: nosniff.
package console
