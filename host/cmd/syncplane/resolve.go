package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/host/store"
)

func newResolveCmd() *cobra.Command {
	var (
		file   string
		take   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "resolve PIPELINE [ID --take a|b]",
		Short: "Show or settle the open conflicts of a two-way pipeline",
		Long: `Without an ID, resolve lists the open conflicts of a two-way pipeline with
both versions of each changed field side by side.

With an ID and --take, it settles that conflict: "a" (or "from") takes the
from side's values, "b" (or "to") the to side's values, for the fields both
sides changed. Changes either side made to other fields since the last sync
are kept (a field-level merge against the last-synced records). The next run
of the pipeline writes the result to both sides as needed (a taken deletion
deletes on the other side, following the pipeline's delete policy; a taken
change to a record the other side deleted makes it again there) and closes
the conflict.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := loadConfig(file)
			if err != nil {
				return err
			}
			p, ok := f.Pipeline(args[0])
			if !ok {
				return fmt.Errorf("no pipeline named %q in %s (pipelines: %v)", args[0], f.Path, f.PipelineNames())
			}
			if !p.TwoWay() {
				return fmt.Errorf("pipeline %s is one-way: only two-way pipelines have conflicts", p.Name)
			}
			st, err := openStore(ctx, f)
			if err != nil {
				return err
			}
			defer st.Close()
			if len(args) == 1 {
				if take != "" {
					return errors.New("--take needs the conflict's ID: syncplane resolve PIPELINE ID --take a|b")
				}
				cs, err := st.Conflicts(ctx, p.Name)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					return enc.Encode(conflictRows(cs))
				}
				printConflictVersions(cmd.OutOrStdout(), p.Name, p.From.Connection+" "+p.From.Entity, p.To.Connection+" "+p.To.Entity, cs)
				return nil
			}
			id, err := strconv.ParseInt(args[1], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("conflict ID %q is not a positive number (see `syncplane resolve %s` for the open ones)", args[1], p.Name)
			}
			switch take {
			case "a", "from":
				take = "a"
			case "b", "to":
				take = "b"
			case "":
				return errors.New("say which version to keep: --take a (the from side) or --take b (the to side)")
			default:
				return fmt.Errorf("--take %q: want a (the from side) or b (the to side)", take)
			}
			if err := st.ResolveConflict(ctx, p.Name, id, take); err != nil {
				if errors.Is(err, store.ErrNoConflict) {
					return fmt.Errorf("pipeline %s has no open conflict %d (see `syncplane resolve %s`)", p.Name, id, p.Name)
				}
				return err
			}
			side, other := p.From, p.To
			if take == "b" {
				side, other = p.To, p.From
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Conflict %d of %s resolved: the next run takes the values of %s %s for the fields both sides changed, keeps the other changes of %s %s, and writes the result to both sides.\n",
				id, p.Name, side.Connection, side.Entity, other.Connection, other.Entity)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "syncplane.yaml", "pipeline file")
	cmd.Flags().StringVar(&take, "take", "", "the version to keep: a (from side) or b (to side)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "list the open conflicts as JSON")
	return cmd
}

// storedFields returns the fields of a record as the store keeps it
// (tagged JSON), rendered compactly per field; nil for a deletion.
func storedFields(raw []byte) map[string]string {
	if len(raw) == 0 {
		return nil
	}
	var rec struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return map[string]string{"(record)": "cannot be decoded: " + err.Error()}
	}
	out := make(map[string]string, len(rec.Fields))
	for k, v := range rec.Fields {
		out[k] = oneLine(string(v), 60)
	}
	return out
}

// printConflictVersions shows each open conflict with both versions.
func printConflictVersions(w io.Writer, pipeline, aName, bName string, cs []store.Conflict) {
	if len(cs) == 0 {
		fmt.Fprintf(w, "Pipeline %s has no open conflicts.\n", pipeline)
		return
	}
	for _, c := range cs {
		state := "open"
		if c.Take != "" {
			state = "resolved: take " + c.Take + " at the next run"
		}
		fmt.Fprintf(w, "Conflict %d (%s), since %s\n", c.ID, state, c.CreatedAt.Local().Format("2006-01-02 15:04:05"))
		fmt.Fprintf(w, "  a = %s record %s\n  b = %s record %s\n", aName, c.AID, bName, c.BID)
		if len(c.Fields) > 0 {
			fmt.Fprintf(w, "  both changed (to-side fields): %v\n", c.Fields)
		}
		fa, fb := storedFields(c.A), storedFields(c.B)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FIELD (a)\tVERSION a\t\tFIELD (b)\tVERSION b")
		ka, kb := keysOf(fa), keysOf(fb)
		if c.ADeleted {
			ka, fa = []string{"-"}, map[string]string{"-": "(deleted)"}
		}
		if c.BDeleted {
			kb, fb = []string{"-"}, map[string]string{"-": "(deleted)"}
		}
		for i := 0; i < max(len(ka), len(kb)); i++ {
			var a1, a2, b1, b2 string
			if i < len(ka) {
				a1, a2 = ka[i], fa[ka[i]]
			}
			if i < len(kb) {
				b1, b2 = kb[i], fb[kb[i]]
			}
			fmt.Fprintf(tw, "  %s\t%s\t\t%s\t%s\n", a1, a2, b1, b2)
		}
		tw.Flush()
		fmt.Fprintf(w, "  settle: syncplane resolve %s %d --take a|b\n\n", pipeline, c.ID)
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
