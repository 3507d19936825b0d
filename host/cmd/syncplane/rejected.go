package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/host/runner"
)

func newRejectedCmd() *cobra.Command {
	var (
		fl     engineFlags
		retry  bool
		all    bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "rejected PIPELINE",
		Short: "List a pipeline's rejected records (dead letters) with their diagnostics; --retry delivers them again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			out := cmd.OutOrStdout()
			if retry {
				log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
				e, err := openEngine(ctx, fl, log, cmd.ErrOrStderr(), nil)
				if err != nil {
					return err
				}
				defer e.Close()
				c, err := e.runner.RetryRejected(ctx, name)
				if asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					if eerr := enc.Encode(c); eerr != nil {
						return eerr
					}
				} else {
					fmt.Fprintf(out, "retried %d record(s): created %d, updated %d, deleted %d, unchanged %d, rejected again %d\n",
						c.Read, c.Created, c.Updated, c.Deleted, c.Unchanged, c.Rejected)
				}
				return err
			}
			f, err := loadConfig(fl.config)
			if err != nil {
				return err
			}
			if _, ok := f.Pipeline(name); !ok {
				return fmt.Errorf("no pipeline named %q in %s (pipelines: %v)", name, fl.config, f.PipelineNames())
			}
			st, err := openStore(ctx, f)
			if err != nil {
				return err
			}
			defer st.Close()
			rs, err := runner.ListRejected(ctx, st, name, all)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rs)
			}
			if len(rs) == 0 {
				fmt.Fprintf(out, "%s: no rejected records\n", name)
				return nil
			}
			for _, r := range rs {
				state := ""
				if r.Retried {
					state = " (retried)"
				}
				part := ""
				if r.Partition != "" {
					part = " partition " + r.Partition
				}
				fmt.Fprintf(out, "#%d %s %s%s, %s%s\n", r.ID, r.Entity, r.SourceID, part, r.CreatedAt.Local().Format("2006-01-02 15:04:05"), state)
				for _, d := range r.Diagnostics {
					fmt.Fprintf(out, "    %s\n", d.Error())
				}
				keys := make([]string, 0, len(r.Record.Fields))
				for k := range r.Record.Fields {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					fmt.Fprintf(out, "    | %s: %s\n", k, oneLine(fmt.Sprint(r.Record.Fields[k]), 80))
				}
			}
			fmt.Fprintf(out, "%d record(s); deliver them again with `syncplane rejected -c %s %s --retry`\n", len(rs), fl.config, name)
			return nil
		},
	}
	fl.register(cmd)
	cmd.Flags().BoolVar(&retry, "retry", false, "deliver the rejected records again through the current mapping")
	cmd.Flags().BoolVar(&all, "all", false, "also list records already retried")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
