//go:build unix

package graph

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the test process has used:
// the connector's and the in-process emulator's work together. Unlike wall
// time it barely moves with other processes' load.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
