//go:build !linux

package connector

import "os/exec"

// setParentDeathSignal has no equivalent outside Linux; go-plugin's own
// watchdog (the host's stdin/connection closing) ends the plugin there.
func setParentDeathSignal(*exec.Cmd) {}

func setParentDeathSignalSelf() {}
