package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/iluxsys/steward/backup"
	"github.com/iluxsys/steward/release"
	"github.com/iluxsys/steward/storage"
)

// flagNames rewrites, in the error of a command, the Go field a library
// error names into the CLI flag that sets it. The sentinel (errors.Is)
// decides which rewrite applies; the phrase is only replaced, and when
// the library words it differently the flag is appended instead, so the
// operator is always told the flag.
var flagNames = []struct {
	sentinel    error
	goPhrase    string
	flagPhrase  string
	appendOther string // appended when goPhrase is not in the message
}{
	{storage.ErrNoConditionalCreate, "set SingleWriter", "pass --single-writer (or set STEWARD_SINGLE_WRITER=1)",
		"if this process is the store's only writer, pass --single-writer (or set STEWARD_SINGLE_WRITER=1)"},
	{backup.ErrPlaintextScope, "set Config.AllowPlaintext", "pass --allow-plaintext",
		"pass --allow-plaintext to open it anyway"},
	{backup.ErrCorrupt, "with Force", "with --force", ""},
	{backup.ErrCorrupt, "Engine.RepairIndex (backupctl repair index)", "backupctl repair index --tenant T", ""},
	{backup.ErrLocked, "Engine.Unlock (backupctl unlock)", "backupctl unlock --tenant T", ""},
	{release.ErrVersionNotNewer, "use Force to redeploy or go back; Rollback to return", "use --force to redeploy or go back; release rollback to return",
		"use --force to redeploy"},
}

// cliError is an error whose message the CLI rewrote; errors.Is and As
// still reach the original.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// cliErrors wraps every command's RunE so that its error names CLI flags
// and variables, not Go fields.
func (a *app) cliErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			return withTenant(cmd, a.cliError(run(cmd, args)))
		}
	}
	for _, sub := range c.Commands() {
		a.cliErrors(sub)
	}
}

// withTenant puts the command's --tenant into the commands an error
// suggests ("backupctl unlock --tenant T").
func withTenant(cmd *cobra.Command, err error) error {
	f := cmd.Flags().Lookup("tenant")
	if err == nil || f == nil || f.Value.String() == "" || !strings.Contains(err.Error(), "--tenant T") {
		return err
	}
	return &cliError{strings.ReplaceAll(err.Error(), "--tenant T", "--tenant "+f.Value.String()), err}
}

func (a *app) cliError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, backup.ErrWrongKey) && a.passphrase() == "" {
		// An encrypted scope opened without a passphrase.
		return fmt.Errorf("%w (no passphrase: environment variable %s is empty or unset; set it, or name another with --password-env)", err, a.passwordEnv)
	}
	for _, f := range flagNames {
		if !errors.Is(err, f.sentinel) {
			continue
		}
		msg := err.Error()
		switch {
		case strings.Contains(msg, f.goPhrase):
			return &cliError{strings.ReplaceAll(msg, f.goPhrase, f.flagPhrase), err}
		case f.appendOther != "":
			return &cliError{msg + " (" + f.appendOther + ")", err}
		}
	}
	return err
}
