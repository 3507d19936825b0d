package connector

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// setParentDeathSignal makes the kernel kill the plugin when the host
// process dies, set between fork and exec so there is no window.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// setParentDeathSignalSelf does the same from inside the plugin, for hosts
// that did not; if the parent died while the signal was being set up (the
// process was re-parented), the plugin exits at once. A parent with pid 1 is
// legitimate: a host running as a container's init.
func setParentDeathSignalSelf() {
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return
	}
	if os.Getppid() != ppid {
		os.Exit(1)
	}
}
