package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector/sagecrm/sagecrmtest"
)

// newEmulateSagecrmCmd runs the Sage CRM REST emulator standalone, so the
// real connector (or any sagecrm2 client) can be pointed at it.
func newEmulateSagecrmCmd() *cobra.Command {
	var (
		o                         sagecrmtest.Options
		zone, release, verbs, shp string
		people                    int
		asJSON                    bool
	)
	cmd := &cobra.Command{
		Use:   "sagecrm",
		Short: "Run the Sage CRM REST API (sagecrm2) emulator (TLS, own CA)",
		Long: `Runs a stateful emulator of the Sage CRM REST API "sagecrm2" over TLS with a
generated certificate authority, at /sdata/{install}j/sagecrm2/-/ with HTTP
Basic authentication. It prints the connector settings that reach it (base_url,
ca_file, user name and password, server_timezone), then serves until
interrupted. The flags select the variants of details Sage CRM does not
document (create and delete status, update verb, error shape, field casing,
orderBy before 2024 R2, ...). The credentials are throwaway values.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loc, err := time.LoadLocation(zone)
			if err != nil {
				return fmt.Errorf("--timezone %q: %w", zone, err)
			}
			o.Location = loc
			switch strings.ToLower(release) {
			case "2024r2":
				o.Release = sagecrmtest.Release2024R2
			case "2019r2":
				o.Release = sagecrmtest.Release2019R2
			default:
				return fmt.Errorf("--release %q: want 2024r2 or 2019r2", release)
			}
			switch strings.ToLower(verbs) {
			case "both":
				o.UpdateVerbs = sagecrmtest.PatchAndPut
			case "patch":
				o.UpdateVerbs = sagecrmtest.PatchOnly
			case "put":
				o.UpdateVerbs = sagecrmtest.PutOnly
			default:
				return fmt.Errorf("--update-verbs %q: want both, patch or put", verbs)
			}
			switch strings.ToLower(shp) {
			case "envelope":
				o.Errors = sagecrmtest.ErrorEnvelope
			case "array":
				o.Errors = sagecrmtest.ErrorArray
			default:
				return fmt.Errorf("--errors %q: want envelope or array", shp)
			}
			srv, err := sagecrmtest.Start(o)
			if err != nil {
				return err
			}
			defer srv.Close()
			if people > 0 {
				comp, err := srv.Insert("company", map[string]any{"comp_name": "Example Ltd", "comp_type": "Customer"})
				if err != nil {
					return fmt.Errorf("seeding a company: %w", err)
				}
				for i := 1; i <= people; i++ {
					p, err := srv.Insert("person", map[string]any{"pers_firstname": "Person", "pers_lastname": fmt.Sprint(i), "pers_companyid": comp})
					if err != nil {
						return fmt.Errorf("seeding people: %w", err)
					}
					if _, err := srv.Insert("email", map[string]any{"emai_emailaddress": fmt.Sprintf("person%d@example.com", i),
						"elink_entityid": 13, "elink_recordid": p, "elink_type": "Business"}); err != nil {
						return fmt.Errorf("seeding e-mail addresses: %w", err)
					}
				}
			}
			settings := map[string]any{
				"base_url": srv.BaseURL(), "username": srv.Username(), "password": srv.Password(),
				"server_timezone": zone, "ca_file": srv.CAFile(),
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(map[string]any{"settings": settings}); err != nil {
					return err
				}
			} else {
				b, _ := json.MarshalIndent(settings, "  ", "  ")
				fmt.Fprintf(out, "Sage CRM emulator at %s\n  connector settings: %s\nserving until interrupted (Ctrl-C)\n", srv.BaseURL(), b)
			}
			<-cmd.Context().Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "127.0.0.1:0", "listen address")
	f.StringVar(&o.Install, "install", "crm", "install name (the base path is /sdata/{install}j/sagecrm2/-/)")
	f.StringVar(&zone, "timezone", "America/New_York", "the server's IANA time zone")
	f.StringVar(&release, "release", "2024r2", "behave as 2024r2 (orderBy) or 2019r2 (no orderBy)")
	f.StringVar(&verbs, "update-verbs", "both", "update verbs accepted: both, patch or put")
	f.StringVar(&shp, "errors", "envelope", `error body shape: envelope ({"$diagnoses":[...]}) or array`)
	f.IntVar(&o.CreateStatus, "create-status", 201, "status of a successful POST (200 or 201)")
	f.IntVar(&o.DeleteStatus, "delete-status", 200, "status of a successful DELETE (200 or 204)")
	f.BoolVar(&o.LowerCaseFields, "lowercase", false, "answer with lower-case field names")
	f.BoolVar(&o.ChildBumpsPerson, "child-bumps-person", false, "a change to an email or phone row bumps its person's pers_updateddate")
	f.BoolVar(&o.PartialResponse, "partial-response", false, "PATCH/PUT answer only the fields sent unless returnPartial=false")
	f.BoolVar(&o.WhereIgnoresOffset, "where-wall-clock", false, "date literals in where compare by their wall clock in the server's zone")
	f.BoolVar(&o.StrictNull, "strict-null", false, "refuse null in where with 400")
	f.BoolVar(&o.NoSelect, "no-select", false, "ignore the select query parameter")
	f.BoolVar(&o.PrototypeChoices, "prototype-choices", false, "list drop-down values in $prototypes")
	f.IntVar(&o.MaxCount, "max-count", 200, "largest page a feed returns")
	f.DurationVar(&o.Latency, "latency", 0, "latency added to every request")
	f.IntVar(&people, "people", 0, "people (with one e-mail address each) to seed")
	f.BoolVar(&asJSON, "json", false, "print the settings as JSON")
	return cmd
}
