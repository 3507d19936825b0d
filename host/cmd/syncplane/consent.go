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
			f, conn, err := consentConnection(file, connection, "graph")
			if err != nil {
				return err
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

// runConsent prints the sign-in URL, waits for the code on the redirect URI
// and redeems it.
func runConsent(ctx context.Context, flow *graph.Consent, cmd *cobra.Command) (string, string, error) {
	redirect, err := flow.RedirectURI()
	if err != nil {
		return "", "", err
	}
	q, err := awaitRedirect(ctx, redirect, func(state string) error {
		authURL, err := flow.AuthorizeURL(ctx, redirect, state, "")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "Open this URL in a browser and sign in as an administrator:\n\n  %s\n\nWaiting for the sign-in on %s …\n", authURL, redirect)
		return err
	})
	if err != nil {
		return "", "", err
	}
	return flow.Redeem(ctx, q.Get("code"), redirect)
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
// with a port), calls show with a fresh random state once it listens (an
// error from show ends the wait with it), and
// returns the query of the first request to the redirect's path that
// carries that state and a code. A request with another state is answered
// 400 and ignored; one with the right state and an error ends the wait
// with that error.
func awaitRedirect(ctx context.Context, redirect string, show func(state string) error) (url.Values, error) {
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
			a.err = fmt.Errorf("the sign-in was refused: %s", strings.TrimSuffix(q.Get("error")+": "+q.Get("error_description"), ": "))
		case q.Get("code") == "":
			a.err = errors.New("the sign-in answer has no code")
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
	if err := show(state); err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("no answer arrived on %s: %w", redirect, ctx.Err())
	case a := <-got:
		return a.q, a.err
	}
}
