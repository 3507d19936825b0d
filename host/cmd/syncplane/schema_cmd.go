package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/plugin"
	"github.com/syncplane/syncplane/schema"
)

func newSchemaCmd() *cobra.Command {
	var (
		connectorName string
		settingsFile  string
		asJSON        bool
		refresh       bool
		inProcess     bool
		pluginDir     string
	)
	cmd := &cobra.Command{
		Use:   "schema --connector NAME --settings FILE [ENTITY]",
		Short: "Show the entities and fields a connection offers, discovered from the service's metadata",
		Long: "Show the schema of a connection: its entities, or with ENTITY that entity's fields\n" +
			"(nested fields indented), key, change-tracking and partition fields.\n" +
			"The connection is given by its connector and a JSON settings file.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if connectorName == "" {
				return fmt.Errorf("--connector is required")
			}
			if settingsFile == "" {
				return fmt.Errorf("--settings is required")
			}
			settings, err := os.ReadFile(settingsFile)
			if err != nil {
				return fmt.Errorf("reading settings: %w", err)
			}
			if !json.Valid(settings) {
				return fmt.Errorf("settings file %s is not valid JSON", settingsFile)
			}
			m, err := newPluginManager(pluginDir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if inProcess {
				m, err = plugin.New(plugin.Options{PluginDir: pluginDir, InProcess: true})
				if err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			client, err := m.Open(ctx, connectorName)
			if err != nil {
				return err
			}
			defer client.Close()
			if err := client.Configure(ctx, connector.ConfigureRequest{Connection: connectorName, Settings: settings, Host: &connector.MemoryHost{}}); err != nil {
				return schemaDescribe("configuring "+connectorName, err)
			}
			s, err := client.DiscoverSchema(ctx, refresh)
			if err != nil {
				return schemaDescribe("discovering the schema", err)
			}
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				e, ok := s.Entity(args[0])
				if !ok {
					return fmt.Errorf("no entity %q; the connection offers: %s", args[0], strings.Join(s.EntityNames(), ", "))
				}
				if asJSON {
					return schemaWriteJSON(out, e)
				}
				schemaPrintEntity(out, e)
				return nil
			}
			if asJSON {
				b, err := s.MarshalIndent()
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			}
			schemaPrintEntities(out, s)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&connectorName, "connector", "", "connector name (see syncplane connectors)")
	f.StringVar(&settingsFile, "settings", "", "JSON file with the connection's settings")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&refresh, "refresh", false, "discover again instead of using a cached schema")
	f.BoolVar(&inProcess, "in-process", false, "run a bundled connector in this process instead of a plugin process")
	f.StringVar(&pluginDir, "plugin-dir", "", "directory of external connectors")
	return cmd
}

// describe renders an error's diagnostics one per line.
func schemaDescribe(what string, err error) error {
	ds := connector.AsDiagnostics(err)
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = "  " + d.Error()
	}
	return fmt.Errorf("%s:\n%s", what, strings.Join(lines, "\n"))
}

func schemaWriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func schemaPrintEntities(w io.Writer, s *schema.Schema) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tFIELDS\tKEY\tMODIFIED\tVERSION\tPARTITION\tCAPABILITIES")
	sorted := s.Sorted()
	for _, e := range sorted.Entities {
		part := "-"
		if e.Partitioning.Partitioned {
			part = e.Partitioning.Field
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", e.Name, len(e.Fields), strings.Join(e.Keys, ","),
			schemaDash(e.ModifiedField), schemaDash(e.VersionField), part, schemaCapabilities(e.Capabilities))
	}
	tw.Flush()
}

func schemaDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func schemaCapabilities(c schema.Capabilities) string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{c.Readable, "read"}, {c.Changes, "changes"}, {c.Writable, "write"}, {c.Deletable, "delete"}, {c.Queryable, "query"}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return strings.Join(out, ",")
}

func schemaPrintEntity(w io.Writer, e *schema.Entity) {
	fmt.Fprintf(w, "%s — %s\n", e.Name, e.Description)
	fmt.Fprintf(w, "key: %s  modified: %s  version: %s  partition: %s  capabilities: %s\n\n",
		strings.Join(e.Keys, ","), schemaDash(e.ModifiedField), schemaDash(e.VersionField), schemaDash(e.Partitioning.Field), schemaCapabilities(e.Capabilities))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tTYPE\tFLAGS")
	schemaPrintFields(tw, e.Fields, "")
	tw.Flush()
}

func schemaPrintFields(w io.Writer, fields []schema.Field, indent string) {
	for _, f := range fields {
		var flags []string
		if !f.Nullable {
			flags = append(flags, "not null")
		}
		if f.ReadOnly {
			flags = append(flags, "read-only")
		}
		if f.Required {
			flags = append(flags, "required")
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s\n", indent, f.Name, schemaTypeString(f.Type), strings.Join(flags, ", "))
		t := f.Type
		if t.Kind == schema.Collection && t.Elem != nil {
			t = *t.Elem
		}
		if t.Kind == schema.Complex {
			schemaPrintFields(w, t.Fields, indent+"  ")
		}
	}
}

func schemaTypeString(t schema.Type) string {
	switch t.Kind {
	case schema.Collection:
		if t.Elem != nil {
			return "list of " + schemaTypeString(*t.Elem)
		}
	case schema.Complex, schema.Enum:
		if t.Name != "" {
			return string(t.Kind) + " " + t.Name
		}
	}
	return string(t.Kind)
}
