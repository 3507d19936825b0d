package graphtest

import "testing"

// TestFindUserIndex: findUser finds users by id and user principal name
// without regard to case, through its index, as its scan does; a user
// changed by AddUser is found by its new name only; a name that is not
// ASCII is compared as strings.EqualFold compares (the Kelvin sign folds
// to k).
func TestFindUserIndex(t *testing.T) {
	s, err := Start(Options{Users: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	us := s.Users()
	s.mu.RLock()
	for _, u := range us {
		for _, key := range []string{u.ID, u.UserPrincipalName, "USER" + u.UserPrincipalName[4:]} {
			if got := s.findUser(key); got == nil || got.ID != u.ID {
				t.Fatalf("findUser(%q) = %v, want %s", key, got, u.ID)
			}
		}
	}
	if s.userKeys == nil || s.findUser("nobody@contoso.com") != nil {
		t.Fatalf("index %v; an unknown name found", s.userKeys != nil)
	}
	s.mu.RUnlock()
	renamed := us[0]
	renamed.UserPrincipalName = "kim@contoso.com"
	s.AddUser(renamed)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if got := s.findUser("KIM@contoso.com"); got == nil || got.ID != renamed.ID {
		t.Fatalf("renamed user: findUser = %v", got)
	}
	if got := s.findUser(us[0].UserPrincipalName); got != nil {
		t.Fatalf("old name still finds %v", got.ID)
	}
	if got := s.findUser("\u212Aim@contoso.com"); got == nil || got.ID != renamed.ID {
		t.Fatalf("Kelvin sign: findUser = %v", got)
	}
}
