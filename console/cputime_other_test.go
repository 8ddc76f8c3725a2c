//go:build !unix

package console_test

import "time"

// cpuTime is not measured here: the benchmark reports 0 cpu-ms/op.
func cpuTime() time.Duration { return 0 }
