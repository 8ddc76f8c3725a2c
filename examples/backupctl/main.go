// Command backupctl is an operator CLI over the steward SDK: every feature of
// the SDK is reachable from here. It is an example of how a host wires the
// SDK together; a real host embeds the packages instead.
//
//	backupctl --store file:///var/lib/steward init --tenant acme --encrypt
//	backupctl --store file:///var/lib/steward backup --tenant acme --source ./data --encrypt
//	backupctl --store file:///var/lib/steward snapshots --tenant acme
//	backupctl --store file:///var/lib/steward restore --tenant acme --snapshot latest --target ./out
//
// The store URL is any gocloud.dev/blob URL (file://, mem://, s3://, gs://,
// azblob://). Encrypted scopes take their passphrase from the environment
// variable named by --password-env (default STEWARD_PASSPHRASE), never from
// the command line. The backup, restore, check --read-data, validate,
// drill and prune commands draw a progress bar on stderr when it is a
// terminal, unless --json or --no-progress is given (a prune's bar follows
// the live bytes it repacks).
// The CLI acts as a principal with the master role named by --user.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
)

func main() {
	collectSooner()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "backupctl:", err)
		os.Exit(exitCode(err))
	}
}

// collectSooner has the collector run when the heap has grown by half
// since the last collection instead of doubling (GOGC=50), unless GOGC is
// set. backupctl's live heap is mostly large pointer-free buffers (chunker
// and compression buffers, see internal/repo's buffer pools), which a
// collection marks at almost no cost: on the many-small-files benchmark a
// full backup's peak RSS fell by 19 MB (15%) and its CPU time did not
// move measurably. A host embedding the library makes its own choice.
func collectSooner() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

// exitCode is backupctl's exit status for err: 3 for a backup that
// committed a partial snapshot (restic's convention), 1 for any other
// failure.
func exitCode(err error) int {
	if errors.Is(err, backup.ErrPartial) {
		return 3
	}
	return 1
}

func newRoot() *cobra.Command {
	a := &app{out: os.Stdout}
	root := &cobra.Command{
		Use:           "backupctl",
		Short:         "Operate steward backups, restores, retention, releases, flags and audit",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPostRunE: func(cmd *cobra.Command, args []string) error {
			return a.close()
		},
	}
	pf := root.PersistentFlags()
	// The variable is read when the store is opened, not taken as the
	// flag's default, so that --help never prints it: it may hold
	// credentials.
	pf.StringVar(&a.storeURL, "store", "", "store URL (default $STEWARD_STORE, or "+defaultStoreURL+" when that is unset)")
	pf.StringVar(&a.user, "user", envOr("USER", "operator"), "principal ID recorded in the audit trail")
	pf.BoolVar(&a.jsonOut, "json", false, "print JSON instead of text")
	pf.BoolVar(&a.noProgress, "no-progress", false, "never draw the progress bar of long commands: backup, restore, validate, drill, --read-data, prune (drawn on stderr only when it is a terminal and --json is not set)")
	pf.StringVar(&a.passwordEnv, "password-env", "STEWARD_PASSPHRASE", "name of the environment variable holding the passphrase of encrypted scopes")
	pf.UintVar(&a.kdfMemoryMiB, "kdf-memory-mib", 32, "argon2id memory in MiB for passphrase keys wrapped from now on (new scopes, rekeys), with passes raised so memory × passes is at least 64 MiB × 3; existing keys keep theirs")
	pf.BoolVar(&a.singleWriter, "single-writer", false, "declare this process the store's only writer, for stores that ignore conditional create (also: STEWARD_SINGLE_WRITER=1)")
	pf.BoolVar(&a.allowPlaintext, "allow-plaintext", false, "open scopes stored unencrypted though a passphrase is set (refused without it)")
	pf.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
	pf.StringVar(&a.memProfile, "memprofile", "", "write a heap profile (in use at the peak sample) to this file")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		a.out, a.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
		if a.kdfMemoryMiB < minKDFMemoryMiB || a.kdfMemoryMiB > maxKDFMemoryMiB {
			return fmt.Errorf("--kdf-memory-mib %d: want %d to %d", a.kdfMemoryMiB, minKDFMemoryMiB, maxKDFMemoryMiB)
		}
		if err := a.singleWriterFromEnv(); err != nil {
			return err
		}
		return a.startProfiles()
	}
	a.register(root)
	return root
}

// Bounds of --kdf-memory-mib: below 16 MiB the passes the library adds to
// keep memory × passes at 64 MiB × 3 make the derivation slow for little
// gain (memory is argon2id's defence against GPUs); the library refuses
// more than 256 MiB.
const (
	minKDFMemoryMiB = 16
	maxKDFMemoryMiB = 256
)

// defaultStoreURL is the store used when neither --store nor
// $STEWARD_STORE names one.
const defaultStoreURL = "file://./steward-data"

// storeURLOrEnv returns --store, else $STEWARD_STORE, else
// defaultStoreURL.
func (a *app) storeURLOrEnv() string {
	if a.storeURL != "" {
		return a.storeURL
	}
	return envOr("STEWARD_STORE", defaultStoreURL)
}

// singleWriterFromEnv sets --single-writer from $STEWARD_SINGLE_WRITER
// when the flag is not given.
func (a *app) singleWriterFromEnv() error {
	v := os.Getenv("STEWARD_SINGLE_WRITER")
	if a.singleWriter || v == "" {
		return nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("STEWARD_SINGLE_WRITER=%q: want 1 or 0 (or true/false)", v)
	}
	a.singleWriter = on
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
