//go:build !linux

package main

import "time"

// treeCPU is not measured outside Linux.
func treeCPU() (time.Duration, bool) { return 0, false }
