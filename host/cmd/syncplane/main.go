// Command syncplane is the syncplane host: it loads connectors, runs mapping
// pipelines between them and keeps their state. Run `syncplane help` for the
// commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// exitError carries a specific exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(os.Stderr, "syncplane:", err)
		return 1
	}
	return 0
}

// newRootCmd assembles the command tree. Each command lives in its own file
// as a newXxxCmd function; add it to the list here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "syncplane",
		Short:         "Sync Microsoft 365 calendars, contacts and tasks with CRM systems",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newVersionCmd(),
		newValidateCmd(),
		newEmulateCmd(),
		newConnectorsCmd(), newConnectorCmd(),
		newSchemaCmd(),
		newConsentCmd(),
		newDemoCmd(), newRunCmd(), newStatusCmd(), newPreviewCmd(), newResetCmd(), newRejectedCmd(), newBenchCmd(), newResolveCmd(),
	)
	return root
}

// newEmulateCmd groups the standalone service emulators.
func newEmulateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run a service emulator (graph, zoho, sagecrm) for trying syncplane without the real service",
	}
	cmd.AddCommand(newEmulateGraphCmd(), newEmulateZohoCmd(), newEmulateSagecrmCmd()) // each emulator adds its newEmulateXxxCmd() here
	return cmd
}
