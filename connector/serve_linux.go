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
// that did not; if the parent is already gone (re-parented to init), the
// plugin exits at once.
func setParentDeathSignalSelf() {
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return
	}
	if ppid == 1 || os.Getppid() != ppid {
		os.Exit(1)
	}
}
