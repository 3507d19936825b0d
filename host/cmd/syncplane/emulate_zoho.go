package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector/zoho/zohotest"
)

// newEmulateZohoCmd runs the Zoho CRM emulator standalone, so the real
// connector (or any Zoho client) can be pointed at it.
func newEmulateZohoCmd() *cobra.Command {
	var (
		dcs      []string
		edition  string
		users    int
		latency  time.Duration
		contacts int
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "zoho",
		Short: "Run the Zoho CRM v8 and Zoho accounts emulator (TLS, own CA)",
		Long: `Runs a stateful emulator of Zoho CRM (REST API v8) and of Zoho's OAuth
accounts servers over TLS with a generated certificate authority, one accounts
server and one API domain per data centre. It prints, per data centre, the
connector settings that reach it (accounts_url, ca_file, client id and secret,
a refresh token with the scopes the connector needs), then serves until
interrupted. The emulator's credentials are throwaway values, no real secret.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			srv, err := zohotest.Start(zohotest.Options{DataCenters: dcs, Edition: edition, Users: users, Latency: latency})
			if err != nil {
				return err
			}
			defer srv.Close()
			settings := map[string]any{}
			for _, dc := range dcs {
				for i := 0; i < contacts; i++ {
					if _, err := srv.Create(dc, "Contacts", map[string]any{"First_Name": "Contact", "Last_Name": fmt.Sprint(i + 1),
						"Email": fmt.Sprintf("contact%d@example.com", i+1)}); err != nil {
						return fmt.Errorf("seeding contacts: %w", err)
					}
				}
				settings[dc] = map[string]any{
					"data_center": dc, "accounts_url": srv.AccountsURL(dc), "ca_file": srv.CAFile(),
					"client_id": srv.ClientID(), "client_secret": srv.ClientSecret(),
					"refresh_token": srv.IssueRefreshToken(dc, zohotest.DefaultScopes...), "edition": edition,
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"settings": settings}); err != nil {
					return err
				}
			} else {
				for _, dc := range dcs {
					fmt.Fprintf(out, "data centre %s: accounts %s, api_domain %s\n", dc, srv.AccountsURL(dc), srv.APIDomain(dc))
					b, _ := json.MarshalIndent(settings[dc], "  ", "  ")
					fmt.Fprintf(out, "  connector settings: %s\n", b)
				}
				fmt.Fprintln(out, "serving until interrupted (Ctrl-C)")
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&dcs, "dc", []string{"us"}, "data centres to run (us, eu, in, au, jp, cn, sa, ca)")
	f.StringVar(&edition, "edition", "enterprise", "CRM edition for credits and concurrency (free, standard, professional, enterprise, ultimate)")
	f.IntVar(&users, "users", 10, "user licences (scale the daily API credits)")
	f.DurationVar(&latency, "latency", 0, "latency added to every API call")
	f.IntVar(&contacts, "contacts", 0, "contacts to seed in every data centre")
	f.BoolVar(&asJSON, "json", false, "print the settings as JSON")
	return cmd
}
