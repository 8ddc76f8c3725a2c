//go:build !unix

package backup_test

import "time"

// cpuTime is unknown off unix: the benchmarks report 0.
func cpuTime() time.Duration { return 0 }
