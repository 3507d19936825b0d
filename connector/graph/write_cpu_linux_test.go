//go:build linux

package graph

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// childCPU is the CPU time (user and system, all threads) that process
// pid has used, from /proc/pid/stat, in clock ticks of 10 ms (USER_HZ is
// 100 on Linux): an emulator in its own process, read between Writes.
func childCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted are those after it, from the state (field 3) on; utime and
	// stime are fields 14 and 15.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}
