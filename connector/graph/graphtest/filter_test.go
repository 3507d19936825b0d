package graphtest

import "testing"

func TestParseFilter(t *testing.T) {
	user := map[string]any{"displayName": "Adele Vance", "userType": "Member", "mail": "adele@contoso.com", "accountEnabled": true, "jobTitle": nil}
	for _, tc := range []struct {
		filter   string
		match    bool
		advanced bool
		err      string
	}{
		{"userType eq 'Member'", true, false, ""},
		{"usertype eq 'member'", true, false, ""},
		{"userType eq 'Guest' or startswith(displayName,'ade')", true, false, ""},
		{"userType eq 'Member' and accountEnabled eq false", false, false, ""},
		{"userType in ('Guest','Member')", true, false, ""},
		{"not (userType eq 'Guest')", true, true, ""},
		{"userType ne 'Guest'", true, true, ""},
		{"endswith(mail,'@contoso.com')", true, true, ""},
		{"jobTitle eq null", true, true, ""},
		{"displayName eq 'It''s'", false, false, ""},
		{"colour eq 'red'", false, false, "Request_UnsupportedQuery"},
		{"userType eq", false, false, "BadRequest"},
		{"(userType eq 'Member'", false, false, "BadRequest"},
		{"userType eq 'Member", false, false, "BadRequest"},
	} {
		p, adv, err := parseFilter(tc.filter, userFilterable)
		if tc.err != "" {
			if err == nil || err.code != tc.err {
				t.Errorf("%q: error %v, want code %s", tc.filter, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.filter, err)
			continue
		}
		if p(user) != tc.match || (adv != "") != tc.advanced {
			t.Errorf("%q: match %v advanced %q, want %v %v", tc.filter, p(user), adv, tc.match, tc.advanced)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"userType eq 'Member'", "startswith(displayName,'a') or not (mail ne null)", "x in ('a','b')", "((", "'"} {
		f.Add(s)
	}
	user := map[string]any{"displayName": "A", "userType": "Member"}
	f.Fuzz(func(t *testing.T, s string) {
		p, _, err := parseFilter(s, userFilterable)
		if err == nil {
			p(user)
		}
	})
}
