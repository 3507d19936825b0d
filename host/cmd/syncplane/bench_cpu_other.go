//go:build !linux

package main

import "time"

// treeCPU is not measured outside Linux.
func treeCPU() (time.Duration, bool) { return 0, false }

// selfCPU is not measured outside Linux.
func selfCPU() (time.Duration, bool) { return 0, false }
