package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/host/store"
)

func newConsentZohoCmd() *cobra.Command {
	var (
		file       string
		connection string
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "zoho --connection NAME",
		Short: "Sign in to Zoho CRM and store the refresh token of a zoho connection",
		Long: "Prints the authorization URL of the connection's data centre accounts server\n" +
			"(or its accounts_url) with the connector's scopes and access_type=offline,\n" +
			"waits for the authorization code on the connection's redirect_uri (which must\n" +
			"be an http://localhost or http://127.0.0.1 address with a port: a listener is\n" +
			"started there), exchanges it and stores the refresh token encrypted in the\n" +
			"state store. The connection then needs no refresh_token setting.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, conn, err := consentConnection(file, connection, "zoho")
			if err != nil {
				return err
			}
			flow, err := zoho.NewConsent(conn.Settings)
			if err != nil {
				return consentDescribe(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			// Open the store first: a failure after the exchange would
			// waste the code and leave an unused refresh token at Zoho.
			st, err := store.Open(ctx, f.State, store.Options{})
			if err != nil {
				return fmt.Errorf("opening the state store %s: %w", f.State, err)
			}
			defer st.Close()
			q, err := awaitRedirect(ctx, flow.RedirectURI(), func(state string) error {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "Open this URL in a browser and grant access to Zoho CRM:\n\n  %s\n\nWaiting for the answer on %s …\n",
					flow.AuthorizeURL(state), flow.RedirectURI())
				return err
			})
			if err != nil {
				return err
			}
			if err := flow.CheckAccountsServer(q.Get("location"), q.Get("accounts-server")); err != nil {
				return err
			}
			rt, apiDomain, err := flow.Exchange(ctx, q.Get("code"))
			if err != nil {
				return fmt.Errorf("exchanging the authorization code at %s: %w", flow.AccountsURL(), err)
			}
			if err := zoho.StoreRefreshToken(ctx, st.Host(connection), rt, apiDomain); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stored the Zoho refresh token for connection %s", connection)
			if apiDomain != "" {
				fmt.Fprintf(cmd.OutOrStdout(), " (api_domain %s)", apiDomain)
			}
			fmt.Fprintln(cmd.OutOrStdout(), ".")
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "syncplane.yaml", "pipeline file")
	cmd.Flags().StringVar(&connection, "connection", "", "zoho connection name")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the answer (Zoho's authorization codes live 2 minutes)")
	return cmd
}
