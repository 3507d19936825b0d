package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/host/runner"
)

func newPreviewCmd() *cobra.Command {
	var (
		fl     engineFlags
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "preview PIPELINE",
		Short: "Map a few live source records and show source → target side by side, writing nothing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			e, err := openEngine(ctx, fl, log, cmd.ErrOrStderr(), nil)
			if err != nil {
				return err
			}
			defer e.Close()
			rows, err := e.runner.Preview(ctx, args[0], limit)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			printPreview(cmd.OutOrStdout(), rows)
			return nil
		},
	}
	fl.register(cmd)
	cmd.Flags().IntVar(&limit, "limit", 5, "number of records to map")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

// printPreview renders each record as two columns: source fields on the
// left, mapped target fields on the right.
func printPreview(w io.Writer, rows []runner.PreviewRow) {
	const width = 48
	for i, r := range rows {
		head := fmt.Sprintf("source %s", r.Source.ID)
		if r.Source.Partition != "" {
			head += " (" + r.Source.Partition + ")"
		}
		right := "target"
		switch {
		case r.Error != "":
			right = "REJECTED"
		case r.Skipped:
			right = "SKIPPED by filter"
		case r.TargetID != "":
			right = "target " + r.TargetID + " (update)"
		default:
			right = "target (create)"
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%-*s → %s\n", width, head, right)
		left := fieldLines(r.Source.Fields, "")
		var rightLines []string
		if r.Target != nil {
			rightLines = fieldLines(r.Target.Fields, "")
		}
		if r.Error != "" {
			rightLines = append(rightLines, strings.Split(r.Error, "\n")...)
		}
		for j := 0; j < max(len(left), len(rightLines)); j++ {
			var l, rt string
			if j < len(left) {
				l = left[j]
			}
			if j < len(rightLines) {
				rt = rightLines[j]
			}
			fmt.Fprintf(w, "  %-*s   %s\n", width-2, truncate(l, width-2), rt)
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "no records in the source")
	}
}

// fieldLines renders fields as "name: value" lines, nested maps dotted.
func fieldLines(fields map[string]any, prefix string) []string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		v := fields[k]
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			out = append(out, fieldLines(m, prefix+k+".")...)
			continue
		}
		out = append(out, prefix+k+": "+renderValue(v))
	}
	return out
}

func renderValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case connector.Date:
		return x.String()
	case []byte:
		return fmt.Sprintf("<%d bytes>", len(x))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
