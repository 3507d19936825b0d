//go:build !linux

package graph

import "time"

// childCPU is not measured on this platform.
func childCPU(int) (time.Duration, bool) { return 0, false }
