package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// newEmulateGraphCmd runs the Microsoft Graph emulator standalone, so the
// real connector (or any Graph client) can be pointed at it.
func newEmulateGraphCmd() *cobra.Command {
	var (
		emu        graphEmulatorFlags
		faults     string
		caFile     string
		asJSON     bool
		cpuProfile string
		statsFile  string
	)
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Run the Microsoft Graph and identity platform emulator (TLS, own CA)",
		Long: `Runs a stateful emulator of Microsoft Graph v1.0 and the Microsoft identity
platform over TLS with a generated certificate authority. It prints the Graph
endpoint, the authority host, the CA file to trust, the tenant id and the
client credentials of its default app, then serves until interrupted.

--faults takes faults separated by ';', each a ','-separated key=value list:
kind (429, 503, 504, reset, truncate, latency), path (with * wildcards),
method, user, times, retry, latency, aftercommit. Example:
  --faults 'kind=429,path=/v1.0/users/*/calendarView/delta,times=3,retry=2s'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := emu.options()
			if err != nil {
				return err
			}
			var scripted []graphtest.Fault
			if faults != "" {
				if scripted, err = graphtest.ParseFaultSpec(faults); err != nil {
					return fmt.Errorf("--faults: %w", err)
				}
			}
			srv, err := graphtest.Start(opts)
			if err != nil {
				return err
			}
			defer srv.Close()
			// Seeding leaves garbage behind; collecting it now, before the
			// details are printed, keeps the collector from marking the
			// whole seeded heap while clients are being served (a
			// stand-in for a remote service should not take the CPU of
			// the client it serves on the same machine).
			runtime.GC()
			for _, f := range scripted {
				srv.Faults().Add(f)
			}
			if caFile == "" {
				dir, err := os.MkdirTemp("", "syncplane-graph-emulator-")
				if err != nil {
					return fmt.Errorf("creating a directory for the CA file: %w", err)
				}
				defer os.RemoveAll(dir)
				caFile = filepath.Join(dir, "ca.pem")
			}
			if err := srv.WriteCAFile(caFile); err != nil {
				return err
			}
			app := srv.App()
			out := cmd.OutOrStdout()
			info := map[string]any{
				"graph_endpoint": srv.GraphEndpoint(),
				"authority_host": srv.AuthorityHost(),
				"ca_file":        caFile,
				"tenant_id":      srv.TenantID(),
				"client_id":      app.ClientID,
				"client_secret":  app.ClientSecret,
				"permissions":    app.Permissions,
				"users":          len(srv.Users()),
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(info); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "graph endpoint:  %s\n", info["graph_endpoint"])
				fmt.Fprintf(out, "authority host:  %s\n", info["authority_host"])
				fmt.Fprintf(out, "CA file:         %s\n", caFile)
				fmt.Fprintf(out, "tenant id:       %s\n", info["tenant_id"])
				fmt.Fprintf(out, "client id:       %s\n", app.ClientID)
				// The emulator's own throwaway secret, printed so a person can
				// configure a connection; it is no real credential.
				fmt.Fprintf(out, "client secret:   %s\n", app.ClientSecret)
				fmt.Fprintf(out, "users:           %d (user1@contoso.com ...)\n", info["users"])
				fmt.Fprintln(out, "serving until interrupted (Ctrl-C)")
			}
			// Serving starts here, after seeding: the statistics and the
			// CPU profile cover serving alone.
			cpuBefore, _ := selfCPU()
			if statsFile != "" {
				defer func() {
					if err := writeEmulatorStats(statsFile, srv.Stats(), cpuBefore); err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "--stats-file:", err)
					}
				}()
			}
			if cpuProfile != "" {
				pf, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	emu.add(cmd)
	f.StringVar(&faults, "faults", "", "scripted faults (see above)")
	f.StringVar(&caFile, "ca-file", "", "where to write the CA certificate (default: a temporary file)")
	f.BoolVar(&asJSON, "json", false, "print the connection details as JSON")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the serving (after seeding) to this file when interrupted")
	f.StringVar(&statsFile, "stats-file", "", "write the request statistics and the CPU time spent serving (after seeding) to this file as JSON when interrupted")
	return cmd
}

// graphEmulatorFlags are the flags of `emulate graph` that make the
// emulator's options: its address, seed data, $metadata and latency model.
type graphEmulatorFlags struct {
	opts         graphtest.Options
	metadataFile string
}

// add defines the flags on cmd.
func (g *graphEmulatorFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&g.opts.Addr, "addr", "127.0.0.1:0", "address to listen on")
	f.StringVar(&g.metadataFile, "metadata", "", "CSDL file to serve at /v1.0/$metadata (default: a small built-in document)")
	f.IntVar(&g.opts.Users, "users", 5, "number of seeded mailbox users")
	f.Int64Var(&g.opts.Seed, "seed", 1, "seed for deterministic data")
	f.IntVar(&g.opts.EventsPerUser, "events", 20, "seeded events per user")
	f.IntVar(&g.opts.ContactsPerUser, "contacts", 10, "seeded contacts per user")
	f.IntVar(&g.opts.TasksPerUser, "tasks", 5, "seeded To Do tasks per user")
	f.IntVar(&g.opts.MessagesPerUser, "messages", 10, "seeded Inbox messages per user")
	f.DurationVar(&g.opts.Latency, "latency", 0, "latency of every request, added before it is served (see --latency-includes-service)")
	f.BoolVar(&g.opts.LatencyIncludesService, "latency-includes-service", false, "make --latency the time from a Graph request's arrival to its answer (network and service time, as a client measures it) instead of a delay before serving")
}

// options are the emulator's options the parsed flags set.
func (g *graphEmulatorFlags) options() (graphtest.Options, error) {
	opts := g.opts
	if opts.Users == 0 {
		opts.Users = -1
	}
	if g.metadataFile != "" {
		data, err := os.ReadFile(g.metadataFile)
		if err != nil {
			return opts, fmt.Errorf("reading --metadata: %w", err)
		}
		opts.Metadata = data
	}
	return opts, nil
}

// emulatorStats is what --stats-file holds: the emulator's request
// statistics, and the CPU time (user and system) the emulator process
// spent from the end of seeding until it was interrupted, so a benchmark
// can tell the emulator's work from its client's (graphtest.Stats
// documents each count). serving_cpu_seconds is -1 where it is not
// measured.
type emulatorStats struct {
	TokenRequests         int            `json:"token_requests"`
	Requests              map[string]int `json:"requests"`
	PerUser               map[string]int `json:"per_user"`
	Total                 int            `json:"total"`
	ConcurrentPeak        int            `json:"concurrent_peak"`
	MailboxConcurrentPeak int            `json:"mailbox_concurrent_peak"`
	Throttled             int            `json:"throttled"`
	Faults                int            `json:"faults"`
	ServingCPUSeconds     float64        `json:"serving_cpu_seconds"`
}

func writeEmulatorStats(path string, st graphtest.Stats, cpuBefore time.Duration) error {
	out := emulatorStats{TokenRequests: st.TokenRequests, Requests: st.Requests, PerUser: st.PerUser, Total: st.Total,
		ConcurrentPeak: st.ConcurrentPeak, MailboxConcurrentPeak: st.MailboxConcurrentPeak, Throttled: st.Throttled,
		Faults: st.Faults, ServingCPUSeconds: -1}
	if now, ok := selfCPU(); ok {
		out.ServingCPUSeconds = (now - cpuBefore).Seconds()
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
