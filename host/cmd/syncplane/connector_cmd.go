package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/bundled"
	"github.com/syncplane/syncplane/host/plugin"
)

// newConnectorCmd groups the commands about one connector.
func newConnectorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connector",
		Short: "Inspect one connector (spec) or serve a bundled one as a plugin (internal)",
	}
	cmd.AddCommand(newConnectorSpecCmd(), newConnectorServeCmd())
	return cmd
}

func newConnectorSpecCmd() *cobra.Command {
	var (
		asJSON    bool
		pluginDir string
	)
	cmd := &cobra.Command{
		Use:   "spec NAME",
		Short: "Start a connector and print its spec: version, capabilities, settings schema",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := newPluginManager(pluginDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			spec, info, err := m.Spec(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					connector.Spec
					Bundled bool   `json:"bundled"`
					Path    string `json:"path"`
				}{spec, info.Bundled, info.Path})
			}
			kind := "external"
			if info.Bundled {
				kind = "bundled"
			}
			fmt.Fprintf(out, "name:          %s\n", spec.Name)
			if spec.DisplayName != "" {
				fmt.Fprintf(out, "display name:  %s\n", spec.DisplayName)
			}
			fmt.Fprintf(out, "version:       %s\n", spec.Version)
			fmt.Fprintf(out, "protocol:      %d\n", spec.ProtocolVersion)
			fmt.Fprintf(out, "capabilities:  %s\n", capabilityList(spec.Capabilities))
			fmt.Fprintf(out, "kind:          %s (%s)\n", kind, info.Path)
			if spec.Description != "" {
				fmt.Fprintf(out, "description:   %s\n", spec.Description)
			}
			if len(spec.SecretSettings) > 0 {
				fmt.Fprintf(out, "secrets:       %s\n", strings.Join(spec.SecretSettings, ", "))
			}
			if len(spec.SettingsSchema) > 0 {
				var pretty any
				if err := json.Unmarshal(spec.SettingsSchema, &pretty); err == nil {
					b, _ := json.MarshalIndent(pretty, "", "  ")
					fmt.Fprintf(out, "settings schema:\n%s\n", b)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().StringVar(&pluginDir, "plugin-dir", "", "directory of external connectors (default "+plugin.DefaultPluginDir()+")")
	return cmd
}

// newConnectorServeCmd is how the host runs a bundled connector as a plugin
// process: it re-executes itself with `connector serve NAME`. It is hidden:
// people never run it.
func newConnectorServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "serve NAME",
		Short:  "Serve a bundled connector as a plugin process (started by the host)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			factories := bundled.Factories()
			f, ok := factories[args[0]]
			if !ok {
				names := make([]string, 0, len(factories))
				for n := range factories {
					names = append(names, n)
				}
				sort.Strings(names)
				return fmt.Errorf("no bundled connector %q (bundled: %s)", args[0], strings.Join(names, ", "))
			}
			connector.Serve(f())
			return nil
		},
	}
}
