package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"subject", "subject", 0},
		{"subjcet", "subject", 1}, // transposition
		{"subjet", "subject", 1},  // deletion
		{"sbuject", "subject", 1},
		{"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
		{"größe", "grösse", 2},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetry)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"connections", "pipelines", "state", "subject", "start", "id", "user"}
	for _, tc := range []struct {
		name, want string
	}{
		{"conections", "connections"},
		{"pipelnies", "pipelines"},
		{"Subject", "subject"},
		{"stat", "state"},
		{"usr", "user"},
		{"xyz", ""},
		{"completelydifferent", ""},
		{"subject", ""}, // exact names are not suggestions
		{"", ""},
	} {
		if got := Nearest(tc.name, names); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
