package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/plugin"
)

// connectorRow is one line of `syncplane connectors`.
type connectorRow struct {
	Name            string                 `json:"name"`
	Version         string                 `json:"version,omitempty"`
	ProtocolVersion int                    `json:"protocolVersion,omitempty"`
	DisplayName     string                 `json:"displayName,omitempty"`
	Capabilities    connector.Capabilities `json:"capabilities"`
	Bundled         bool                   `json:"bundled"`
	Path            string                 `json:"path"`
	Error           string                 `json:"error,omitempty"`
}

// newPluginManager builds the manager the connector commands share. Plugin
// log lines at warning level and above reach stderr.
func newPluginManager(pluginDir string, stderr io.Writer) (*plugin.Manager, error) {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return plugin.New(plugin.Options{PluginDir: pluginDir, Logger: logger})
}

func newConnectorsCmd() *cobra.Command {
	var (
		asJSON    bool
		pluginDir string
	)
	cmd := &cobra.Command{
		Use:   "connectors",
		Short: "List the available connectors, bundled and external, with their versions and capabilities",
		Long: "List the available connectors. Each one is started once to ask its spec.\n" +
			"External connectors are executables named syncplane-connector-NAME in the plugin\n" +
			"directory, each with a syncplane-connector-NAME.sha256 checksum file (sha256sum format).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := newPluginManager(pluginDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rows, err := listConnectors(cmd.Context(), m)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return err
				}
			} else {
				printConnectors(cmd.OutOrStdout(), rows, m.PluginDir())
			}
			failed := 0
			for _, r := range rows {
				if r.Error != "" {
					failed++
					if asJSON {
						fmt.Fprintln(cmd.ErrOrStderr(), "syncplane:", r.Error)
					}
				}
			}
			if failed > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().StringVar(&pluginDir, "plugin-dir", "", "directory of external connectors (default "+plugin.DefaultPluginDir()+")")
	return cmd
}

// listConnectors starts every connector once, a few at a time, and asks
// its spec.
func listConnectors(ctx context.Context, m *plugin.Manager) ([]connectorRow, error) {
	infos, err := m.List()
	if err != nil {
		return nil, err
	}
	rows := make([]connectorRow, len(infos))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, in := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			row := connectorRow{Name: in.Name, Bundled: in.Bundled, Path: in.Path}
			spec, _, err := m.Spec(ctx, in.Name)
			if err != nil {
				row.Error = err.Error()
			} else {
				row.Version, row.ProtocolVersion, row.DisplayName, row.Capabilities = spec.Version, spec.ProtocolVersion, spec.DisplayName, spec.Capabilities
			}
			rows[i] = row
		}()
	}
	wg.Wait()
	return rows, nil
}

func capabilityList(c connector.Capabilities) string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{c.Read, "read"}, {c.ReadChanges, "changes"}, {c.Write, "write"}, {c.Query, "query"}, {c.Subscribe, "subscribe"}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func printConnectors(w io.Writer, rows []connectorRow, pluginDir string) {
	if len(rows) == 0 {
		fmt.Fprintf(w, "no connectors found (external connectors go in %s)\n", pluginDir)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tCAPABILITIES\tKIND\tPATH")
	for _, r := range rows {
		kind := "external"
		if r.Bundled {
			kind = "bundled"
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\t%s\n", r.Name, kind, r.Path)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Version, strconv.Itoa(r.ProtocolVersion), capabilityList(r.Capabilities), kind, r.Path)
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintln(w, "error:", r.Error)
		}
	}
}
