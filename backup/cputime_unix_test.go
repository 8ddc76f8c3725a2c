//go:build unix

package backup_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) the test process has used:
// unlike wall time, other processes on the machine barely change it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
