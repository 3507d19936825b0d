package zoho

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/syncplane/syncplane/connector"
)

// Check signs in, compares the token's scopes with what the connector
// needs (crm-api-facts.md §A2 minimal scope set) and reads one record of
// every configured module, so a missing module permission shows up now.
func (c *Connector) Check(ctx context.Context) connector.Diagnostics {
	if err := c.configured(); err != nil {
		return connector.AsDiagnostics(err)
	}
	defer c.saveUsage(ctx)
	st, err := c.api.tok.token(ctx)
	if err != nil {
		return connector.AsDiagnostics(err)
	}
	var ds connector.Diagnostics
	granted := map[string]bool{}
	for _, s := range strings.FieldsFunc(st.Scope, func(r rune) bool { return r == ' ' || r == ',' }) {
		granted[strings.ToLower(s)] = true
	}
	has := func(any ...string) bool {
		for _, s := range any {
			if granted[strings.ToLower(s)] {
				return true
			}
		}
		return false
	}
	if len(granted) > 0 {
		for _, need := range [][]string{
			{"ZohoCRM.settings.modules.READ", "ZohoCRM.settings.modules.ALL", "ZohoCRM.settings.ALL"},
			{"ZohoCRM.settings.fields.READ", "ZohoCRM.settings.fields.ALL", "ZohoCRM.settings.ALL"},
			{"ZohoCRM.settings.layouts.READ", "ZohoCRM.settings.layouts.ALL", "ZohoCRM.settings.ALL"},
		} {
			if !has(need...) {
				ds = append(ds, connector.Errorf(connector.PermissionDenied, "the Zoho token lacks scope %s, needed to discover the schema", need[0]))
			}
		}
		if !has("ZohoCRM.coql.READ", "ZohoCRM.coql.ALL") {
			ds = append(ds, connector.Warnf(connector.PermissionDenied, "the Zoho token lacks scope ZohoCRM.coql.READ: Query by fields other than id will fail"))
		}
		for _, mod := range c.set.Modules {
			if !has("ZohoCRM.modules.ALL", "ZohoCRM.modules."+mod+".ALL") {
				ds = append(ds, connector.Warnf(connector.PermissionDenied, "the Zoho token lacks scope ZohoCRM.modules.ALL or ZohoCRM.modules.%s.ALL: writing %s may fail", mod, mod))
			}
		}
	}
	if ds.HasError() {
		return ds
	}
	meta, err := c.metadata(ctx, true)
	if err != nil {
		return append(ds, connector.AsDiagnostics(err)...)
	}
	for _, mod := range c.set.Modules {
		m := meta[mod]
		if m == nil {
			continue
		}
		q := url.Values{"fields": {"id"}, "per_page": {"1"}}
		if _, err := c.api.do(ctx, request{method: http.MethodGet, path: m.APIName, query: q, credits: 1}, nil); err != nil {
			var d *connector.Diagnostic
			if errors.As(err, &d) {
				c := *d
				c.Summary = "module " + m.APIName + ": " + c.Summary
				ds = append(ds, &c)
			} else {
				ds = append(ds, connector.AsDiagnostics(err)...)
			}
		}
	}
	return ds
}
