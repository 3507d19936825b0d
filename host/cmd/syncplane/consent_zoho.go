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

	"github.com/syncplane/syncplane/connector/zoho"
	"github.com/syncplane/syncplane/host/config"
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
			q, err := awaitRedirect(ctx, flow.RedirectURI(), func(state string) {
				fmt.Fprintf(cmd.OutOrStdout(), "Open this URL in a browser and grant access to Zoho CRM:\n\n  %s\n\nWaiting for the answer on %s …\n",
					flow.AuthorizeURL(state), flow.RedirectURI())
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

// consentConnection loads the pipeline file and returns it with the named
// connection, which must exist and use connector want.
func consentConnection(file, connection, want string) (*config.File, *config.Connection, error) {
	if connection == "" {
		return nil, nil, errors.New("--connection is required")
	}
	f, err := config.Load(file)
	if err != nil {
		return nil, nil, err
	}
	conn, ok := f.Connection(connection)
	if !ok {
		return nil, nil, fmt.Errorf("%s has no connection %q (it has: %s)", file, connection, strings.Join(f.ConnectionNames(), ", "))
	}
	if conn.Connector != want {
		return nil, nil, fmt.Errorf("connection %s uses connector %s; this consent command is for %s connections", connection, conn.Connector, want)
	}
	return f, conn, nil
}

// awaitRedirect listens on redirect (an http://localhost or 127.0.0.1 URL
// with a port), calls show with a fresh random state once it listens, and
// returns the query of the first request to the redirect's path that
// carries that state and a code. A request with another state is answered
// 400 and ignored; one with the right state and an error ends the wait
// with that error.
func awaitRedirect(ctx context.Context, redirect string, show func(state string)) (url.Values, error) {
	ru, err := url.Parse(redirect)
	if err != nil || ru.Scheme != "http" || (ru.Hostname() != "localhost" && ru.Hostname() != "127.0.0.1") || ru.Port() == "" {
		return nil, fmt.Errorf("redirect_uri %q must be http://localhost:PORT/… (or 127.0.0.1) for the local listener", redirect)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	state := hex.EncodeToString(b)
	ln, err := net.Listen("tcp", net.JoinHostPort(ru.Hostname(), ru.Port()))
	if err != nil {
		return nil, fmt.Errorf("listening on the redirect URI %s: %w", redirect, err)
	}
	type answer struct {
		q   url.Values
		err error
	}
	got := make(chan answer, 1)
	path := ru.Path
	if path == "" {
		path = "/"
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state {
			// Not the answer to this sign-in (a stale tab, a forged
			// request): refuse it and keep waiting.
			http.Error(w, "unexpected state; this answer is not for the running consent command", http.StatusBadRequest)
			return
		}
		var a answer
		switch {
		case q.Get("error") != "":
			a.err = fmt.Errorf("Zoho refused the authorization: %s", q.Get("error"))
		case q.Get("code") == "":
			a.err = errors.New("the answer from Zoho has no code")
		default:
			a.q = q
		}
		if a.err != nil {
			http.Error(w, html.EscapeString(a.err.Error()), http.StatusBadRequest)
		} else {
			fmt.Fprintln(w, "Access granted. You can close this window and return to the terminal.")
		}
		select {
		case got <- a:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	show(state)
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer arrived on %s: %w", redirect, ctx.Err())
	case a := <-got:
		return a.q, a.err
	}
}
