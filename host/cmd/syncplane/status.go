package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/store"
)

// statusRow is the state of one pipeline partition.
type statusRow struct {
	Pipeline  string `json:"pipeline"`
	Entity    string `json:"entity"`
	Partition string `json:"partition"`
	// LastRun is the latest run, absent when the partition never ran.
	LastRun *store.Run `json:"lastRun,omitempty"`
	// CheckpointAt is when the checkpoint last moved; absent without one.
	CheckpointAt time.Time `json:"checkpointAt,omitzero"`
	// CheckpointAge is how long ago, in seconds.
	CheckpointAge float64   `json:"checkpointAgeSeconds,omitempty"`
	Resyncing     bool      `json:"resyncing,omitempty"`
	LastError     string    `json:"lastError,omitempty"`
	LastErrorAt   time.Time `json:"lastErrorAt,omitzero"`
	Rejected      int       `json:"rejectedWaiting"`
	// Conflicts are the open conflicts of a two-way pipeline (on its
	// "two-way" row): both versions, waiting for `syncplane resolve`.
	Conflicts []conflictRow `json:"conflicts,omitempty"`
}

// conflictRow is an open two-way conflict with both versions as stored
// (the records' fields in the host's tagged JSON; null for a deletion).
type conflictRow struct {
	store.Conflict
	AVersion json.RawMessage `json:"a"`
	BVersion json.RawMessage `json:"b"`
}

func conflictRows(cs []store.Conflict) []conflictRow {
	out := make([]conflictRow, len(cs))
	for i, c := range cs {
		out[i] = conflictRow{Conflict: c, AVersion: recordJSON(c.A), BVersion: recordJSON(c.B)}
	}
	return out
}

// recordJSON is a stored record's JSON, or null when there is none.
func recordJSON(raw []byte) json.RawMessage {
	if len(raw) == 0 || !json.Valid(raw) {
		return json.RawMessage("null")
	}
	return raw
}

func newStatusCmd() *cobra.Command {
	var (
		file   string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each pipeline partition's last run, checkpoint age, counts and last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			f, err := loadConfig(file)
			if err != nil {
				return err
			}
			st, err := openStore(ctx, f)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := collectStatus(cmd, f, st)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			printStatus(cmd.OutOrStdout(), f, rows)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "syncplane.yaml", "pipeline file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func collectStatus(cmd *cobra.Command, f *config.File, st *store.Store) ([]statusRow, error) {
	ctx := cmd.Context()
	now := time.Now()
	var rows []statusRow
	for _, name := range f.PipelineNames() {
		cps, err := st.Checkpoints(ctx, name)
		if err != nil {
			return nil, err
		}
		runs, err := st.LastRuns(ctx, name)
		if err != nil {
			return nil, err
		}
		dls, err := st.DeadLetters(ctx, name, false)
		if err != nil {
			return nil, err
		}
		byKey := map[store.PartitionKey]*statusRow{}
		var order []store.PartitionKey
		get := func(k store.PartitionKey) *statusRow {
			if r, ok := byKey[k]; ok {
				return r
			}
			r := &statusRow{Pipeline: k.Pipeline, Entity: k.Entity, Partition: k.Partition}
			byKey[k] = r
			order = append(order, k)
			return r
		}
		for _, c := range cps {
			r := get(c.PartitionKey)
			if c.Checkpoint != nil {
				r.CheckpointAt = c.UpdatedAt
				r.CheckpointAge = now.Sub(c.UpdatedAt).Seconds()
			}
			r.Resyncing = !c.ResyncSince.IsZero()
		}
		for i := range runs {
			r := get(runs[i].PartitionKey)
			r.LastRun = &runs[i]
		}
		for _, d := range dls {
			get(store.PartitionKey{Pipeline: name, Entity: d.Entity, Partition: d.Partition}).Rejected++
		}
		if p, _ := f.Pipeline(name); p != nil && p.TwoWay() {
			cs, err := st.Conflicts(ctx, name)
			if err != nil {
				return nil, err
			}
			if len(cs) > 0 {
				get(store.PartitionKey{Pipeline: name, Entity: "two-way"}).Conflicts = conflictRows(cs)
			}
		}
		for _, k := range order {
			r := byKey[k]
			msg, at, err := st.LastError(ctx, k)
			if err != nil {
				return nil, err
			}
			r.LastError, r.LastErrorAt = msg, at
			rows = append(rows, *r)
		}
		if len(order) == 0 {
			p, _ := f.Pipeline(name)
			rows = append(rows, statusRow{Pipeline: name, Entity: p.From.Entity, Partition: ""})
		}
	}
	return rows, nil
}

func printStatus(w io.Writer, f *config.File, rows []statusRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tPARTITION\tLAST RUN\tSTATUS\tCHECKPOINT AGE\tREAD\tCREATED\tUPDATED\tDELETED\tUNCHANGED\tREJECTED\tLAST ERROR")
	for _, r := range rows {
		part := r.Partition
		if part == "" {
			part = "-"
		}
		last, status := "never", "-"
		var c store.Counts
		if r.LastRun != nil {
			last = r.LastRun.StartedAt.Local().Format("2006-01-02 15:04:05")
			status = r.LastRun.Status
			c = r.LastRun.Counts
		}
		age := "-"
		if !r.CheckpointAt.IsZero() {
			age = time.Duration(r.CheckpointAge * float64(time.Second)).Round(time.Second).String()
		}
		if r.Resyncing {
			age += " (resync pending)"
		}
		errText := "-"
		if r.LastError != "" {
			errText = oneLine(r.LastError, 100) + " (" + r.LastErrorAt.Local().Format("01-02 15:04") + ")"
		}
		rejected := fmt.Sprint(c.Rejected)
		if r.Rejected > 0 {
			rejected = fmt.Sprintf("%d (%d waiting)", c.Rejected, r.Rejected)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Pipeline, part, last, status, age,
			c.Read, c.Created, c.Updated, c.Deleted, c.Unchanged, rejected, errText)
	}
	tw.Flush()
	printConflicts(w, rows)
}

// printConflicts lists the open conflicts of two-way pipelines, if any.
func printConflicts(w io.Writer, rows []statusRow) {
	var cs []conflictRow
	for _, r := range rows {
		cs = append(cs, r.Conflicts...)
	}
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nOpen conflicts (%d): both sides changed the same record; nothing is written for it until resolved.\n", len(cs))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tID\tFROM RECORD (a)\tTO RECORD (b)\tFIELDS\tSINCE\tRESOLUTION")
	for _, c := range cs {
		a, b := c.APartition+"/"+c.AID, c.BPartition+"/"+c.BID
		if c.ADeleted {
			a += " (deleted)"
		}
		if c.BDeleted {
			b += " (deleted)"
		}
		fields := "-"
		if len(c.Fields) > 0 {
			fields = strings.Join(c.Fields, ",")
		}
		res := "open"
		if c.Take != "" {
			res = "take " + c.Take + " at the next run"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Pipeline, c.ID, strings.TrimPrefix(a, "/"), strings.TrimPrefix(b, "/"), fields,
			c.CreatedAt.Local().Format("2006-01-02 15:04"), res)
	}
	tw.Flush()
	fmt.Fprintln(w, "Compare both versions with `syncplane resolve PIPELINE`; settle one with `syncplane resolve PIPELINE ID --take a|b`.")
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' {
			r = ' '
		}
		out = append(out, r)
		if len(out) >= n {
			return string(out) + "…"
		}
	}
	return string(out)
}
