package sagecrmtest

import (
	"testing"
	"time"
)

// FuzzWhere feeds arbitrary where clauses to the parser: it must answer a
// condition or a whereError, never panic, and a condition must evaluate.
func FuzzWhere(f *testing.F) {
	for _, s := range []string{
		"pers_lastname eq 'a'", "pers_personid in (1, '2')", "pers_personid between 1 and 3",
		"not (pers_lastname like '%a_') or pers_updateddate ge @2024-01-01@",
		"Pers_UpdatedDate>'2024-05-01T12:30:00Z' and pers_personid<>3", "((", "'unterminated", "pers_middlename eq null",
	} {
		f.Add(s)
	}
	s := &Server{opts: Options{Location: time.UTC}, entities: newEntities()}
	e := s.entities["person"]
	r := row{"pers_personid": int64(2), "pers_lastname": "Baker", "pers_updateddate": time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, where string) {
		c, err := s.compileWhere(e, where)
		if err != nil {
			if _, ok := err.(*whereError); !ok {
				t.Fatalf("where %q: error of type %T, want *whereError", where, err)
			}
			return
		}
		c.match(r)
	})
}
