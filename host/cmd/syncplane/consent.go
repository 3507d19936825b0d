package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncplane/syncplane/connector/graph"
	"github.com/syncplane/syncplane/host/config"
	"github.com/syncplane/syncplane/host/store"
)

func newConsentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consent",
		Short: "Collect consent for a Microsoft Graph or Zoho CRM connection and store its refresh token",
	}
	cmd.AddCommand(newConsentAdminCmd())
	cmd.AddCommand(newConsentZohoCmd())
	return cmd
}

func newConsentAdminCmd() *cobra.Command {
	var (
		file       string
		connection string
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "admin --connection NAME",
		Short: "Sign an administrator in and store the refresh token of a Graph connection with auth admin_refresh_token",
		Long: "Prints the sign-in URL of the connection's app registration, waits for the\n" +
			"authorization code on the connection's redirect_uri (which must be an\n" +
			"http://localhost or http://127.0.0.1 address: a listener is started there),\n" +
			"redeems it and stores the refresh token encrypted in the state store.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if connection == "" {
				return errors.New("--connection is required")
			}
			f, err := config.Load(file)
			if err != nil {
				return err
			}
			conn, ok := f.Connection(connection)
			if !ok {
				return fmt.Errorf("%s has no connection %q (it has: %s)", file, connection, strings.Join(f.ConnectionNames(), ", "))
			}
			if conn.Connector != "graph" {
				return fmt.Errorf("connection %s uses connector %s; consent is for graph connections", connection, conn.Connector)
			}
			flow, err := graph.NewConsent(conn.Settings)
			if err != nil {
				return consentDescribe(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rt, user, err := runConsent(ctx, flow, cmd)
			if err != nil {
				return err
			}
			st, err := store.Open(ctx, f.State, store.Options{})
			if err != nil {
				return fmt.Errorf("opening the state store %s: %w", f.State, err)
			}
			defer st.Close()
			if err := st.Host(connection).Secrets().Put(ctx, graph.AdminTokenKey, []byte(rt)); err != nil {
				return fmt.Errorf("storing the refresh token: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Stored the refresh token of %s for connection %s.\n", user, connection)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "config", "c", "syncplane.yaml", "pipeline file")
	cmd.Flags().StringVar(&connection, "connection", "", "graph connection name")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the sign-in (authorization codes live about 10 minutes)")
	return cmd
}

func consentDescribe(err error) error {
	return fmt.Errorf("the connection's settings cannot be used for consent: %w", err)
}

// runConsent listens on the redirect URI, prints the sign-in URL and
// redeems the code that arrives.
func runConsent(ctx context.Context, flow *graph.Consent, cmd *cobra.Command) (string, string, error) {
	redirect, err := flow.RedirectURI()
	if err != nil {
		return "", "", err
	}
	ru, err := url.Parse(redirect)
	if err != nil || ru.Scheme != "http" || (ru.Hostname() != "localhost" && ru.Hostname() != "127.0.0.1") || ru.Port() == "" {
		return "", "", fmt.Errorf("redirect_uri %q must be http://localhost:PORT/… (or 127.0.0.1) for the local listener", redirect)
	}
	stateBytes := make([]byte, 16)
	if _, err := rand.Read(stateBytes); err != nil {
		return "", "", err
	}
	state := hex.EncodeToString(stateBytes)
	ln, err := net.Listen("tcp", net.JoinHostPort(ru.Hostname(), ru.Port()))
	if err != nil {
		return "", "", fmt.Errorf("listening on the redirect URI %s: %w", redirect, err)
	}
	type result struct {
		code string
		err  error
	}
	got := make(chan result, 1)
	path := ru.Path
	if path == "" {
		path = "/"
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var res result
		switch {
		case q.Get("state") != state:
			res.err = errors.New("the sign-in answer carries a different state; ignoring it")
		case q.Get("error") != "":
			res.err = fmt.Errorf("sign-in failed: %s: %s", q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			res.err = errors.New("the sign-in answer has no code")
		default:
			res.code = q.Get("code")
		}
		if res.err != nil {
			http.Error(w, html.EscapeString(res.err.Error()), http.StatusBadRequest)
		} else {
			fmt.Fprintln(w, "Signed in. You can close this window and return to the terminal.")
		}
		select {
		case got <- res:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	authURL, err := flow.AuthorizeURL(ctx, redirect, state, "")
	if err != nil {
		return "", "", err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Open this URL in a browser and sign in as an administrator:\n\n  %s\n\nWaiting for the sign-in on %s …\n", authURL, redirect)
	select {
	case <-ctx.Done():
		return "", "", fmt.Errorf("no sign-in arrived: %w", ctx.Err())
	case res := <-got:
		if res.err != nil {
			return "", "", res.err
		}
		return flow.Redeem(ctx, res.code, redirect)
	}
}
