// Package flags holds feature flags with tenant targeting and a sticky
// percentage rollout, persisted in a storage.Store and shared by every
// process that opens the same Store.
//
// # Evaluation
//
// Enabled(name, tenant) decides, in order:
//
//  1. an unknown or disabled flag is off;
//  2. a tenant listed in TargetTenants is on;
//  3. otherwise the rollout decides: the tenant is on when its bucket — a
//     stable hash (FNV-1a, 64 bit) of the flag name, a zero byte and the
//     tenant ID, modulo 10,000 — is below RolloutPercentage × 100.
//
// So TargetTenants alone (percentage 0) enables exactly those tenants;
// RolloutPercentage 100 enables everyone; both together enable the targets
// plus a share of the rest. Because a tenant's bucket never changes,
// raising the percentage only ever adds tenants, and since the flag's name
// is part of the hash, two flags at 50 % select independent halves.
//
// Enabled reads an immutable snapshot through an atomic pointer: no locks
// and no allocations, safe to call on every request.
//
// # Storage and concurrency
//
// Each change is a new version object, "<prefix><name>/<20-digit
// version>.json", created with IfNotExist. A writer names the version it
// last saw plus one; if another writer got there first, the create fails
// and Set returns ErrConflict (after refreshing, so a retry works). Writers
// of different flags never touch the same object, so neither loses an
// update. Delete writes a tombstone version. Other processes see changes on
// Refresh, which Watch calls every Config.RefreshInterval.
//
// # Authentication
//
// Someone who can write the Store could otherwise write a new version
// (turn a flag on for every tenant, say) that every host installs on its
// next Refresh. With Config.RecordKey, a secret the host holds, each
// version carries an HMAC-SHA-256 over its JSON and its object key, so a
// version written without the key, or a genuine one copied to another
// flag, version number or prefix, is refused with an error matching
// steward.ErrForged. A refused version never takes effect: Refresh keeps
// the flag's last good state, refreshes every other flag and names the
// refused version in its error; New, which has no earlier state, fails.
// A Set or Delete writes a genuine version above a refused one.
//
// Without a key a version carries a plain SHA-256: damage is caught,
// forgery is not. To adopt a key on such a Store, run Resign once; from
// then on every Set that opens the Store needs the key.
package flags
