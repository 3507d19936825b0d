package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newResetCmd() *cobra.Command {
	var (
		file      string
		partition string
		yes       bool
	)
	cmd := &cobra.Command{
		Use:   "reset PIPELINE",
		Short: "Forget a pipeline's checkpoints so the next run reads everything again",
		Long: "Forget the checkpoints of a pipeline (or of one partition with --partition). The next run\n" +
			"reads every source record again and writes through the ID map, so records already in the\n" +
			"target are updated, not duplicated; records no longer in the source follow on_delete.\n" +
			"Asks for confirmation unless --yes.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			f, err := loadConfig(file)
			if err != nil {
				return err
			}
			name := args[0]
			if _, ok := f.Pipeline(name); !ok {
				return fmt.Errorf("no pipeline named %q in %s (pipelines: %v)", name, file, f.PipelineNames())
			}
			what := fmt.Sprintf("all partitions of pipeline %s", name)
			var part *string
			if cmd.Flags().Changed("partition") {
				part = &partition
				what = fmt.Sprintf("partition %q of pipeline %s", partition, name)
			}
			if !yes {
				fmt.Fprintf(cmd.OutOrStdout(), "Reset %s? The next run reads every record again. [y/N] ", what)
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					fmt.Fprintln(cmd.OutOrStdout(), "not reset")
					return exitError{code: 1}
				}
			}
			st, err := openStore(ctx, f)
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := st.Reset(ctx, name, part)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reset %s: %d checkpoint(s) forgotten\n", what, n)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "syncplane.yaml", "pipeline file")
	cmd.Flags().StringVar(&partition, "partition", "", "reset only this partition")
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
