package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
)

// version is the host's release version; set with
// -ldflags "-X main.version=v1.2.3" at release time.
var version = "0.1.0-dev"

type versionInfo struct {
	Version         string `json:"version"`
	ProtocolVersion int    `json:"protocolVersion"`
	Go              string `json:"go"`
	Commit          string `json:"commit,omitempty"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: version, ProtocolVersion: connector.ProtocolVersion, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the host version and the connector protocol version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := currentVersion()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "syncplane %s (connector protocol %d, %s)\n", v.Version, v.ProtocolVersion, v.Go)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
