// Package suggest finds the nearest valid name for a misspelt one, for
// "did you mean …?" hints in configuration and mapping errors.
package suggest

import (
	"strings"
	"unicode/utf8"
)

// Distance returns the optimal-string-alignment Damerau–Levenshtein distance
// between a and b: the number of single-rune insertions, deletions,
// substitutions and transpositions of adjacent runes turning a into b.
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	n, m := len(ra), len(rb)
	if n == 0 {
		return m
	}
	if m == 0 {
		return n
	}
	// Three rows suffice: the transposition step looks two rows back.
	prev2 := make([]int, m+1)
	prev := make([]int, m+1)
	cur := make([]int, m+1)
	for j := 0; j <= m; j++ {
		prev[j] = j
	}
	for i := 1; i <= n; i++ {
		cur[0] = i
		for j := 1; j <= m; j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[m]
}

// Nearest returns the candidate closest to name, or "" when none is close
// enough to be a plausible misspelling. A candidate equal to name ignoring
// case always wins; otherwise the distance must be at most a third of the
// longer name's length (at least 1, at most 3). Ties go to the earlier
// candidate, so callers control precedence by order.
func Nearest(name string, candidates []string) string {
	if name == "" {
		return ""
	}
	best, bestDist := "", -1
	lower := strings.ToLower(name)
	for _, c := range candidates {
		if c == name {
			continue
		}
		if strings.ToLower(c) == lower {
			return c
		}
		d := Distance(lower, strings.ToLower(c))
		limit := max(utf8.RuneCountInString(name), utf8.RuneCountInString(c)) / 3
		limit = min(max(limit, 1), 3)
		if d > limit {
			continue
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
