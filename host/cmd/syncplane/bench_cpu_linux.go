//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// treeCPU is the CPU time (user and system) used so far by this process
// and by its children still running — the connector plugin processes —,
// read from /proc. Unlike wall time it barely moves with other processes'
// load, so the bench reports it beside the wall times. ok is false when it
// cannot be read.
func treeCPU() (d time.Duration, ok bool) {
	d, ok = selfCPU()
	if !ok {
		return 0, false
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, false
	}
	self := os.Getpid()
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid … utime stime are fields 4, 14 and 15; comm
		// may hold spaces, so fields are counted after its closing ')'.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(data[i+1:])
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(string(f[1])); ppid != self {
			continue
		}
		utime, _ := strconv.ParseInt(string(f[11]), 10, 64)
		stime, _ := strconv.ParseInt(string(f[12]), 10, 64)
		d += time.Duration(utime+stime) * time.Second / clockTicks
	}
	return d, true
}

// selfCPU is the CPU time (user and system) this process has used so far.
func selfCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture Go supports.
const clockTicks = 100
