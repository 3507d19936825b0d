package graphtest

import (
	"fmt"
	"time"
)

var seedNames = []struct{ given, sur string }{
	{"Adele", "Vance"}, {"Alex", "Wilber"}, {"Diego", "Siciliani"}, {"Grady", "Archie"}, {"Henrietta", "Mueller"},
	{"Isaiah", "Langer"}, {"Johanna", "Lorenz"}, {"Joni", "Sherman"}, {"Lee", "Gu"}, {"Lidia", "Holloway"},
	{"Lynne", "Robbins"}, {"Megan", "Bowen"}, {"Miriam", "Graham"}, {"Nestor", "Wilke"}, {"Patti", "Fernandez"},
	{"Pradeep", "Gupta"},
}

var seedSubjects = []string{"Pipeline review", "Customer call", "Quarterly planning", "1:1", "Site visit",
	"Demo for prospect", "Contract negotiation", "Team stand-up", "Budget review", "Lunch with partner"}

var seedZones = []string{"UTC", "W. Europe Standard Time", "Eastern Standard Time", "Pacific Standard Time"}

// DefaultPermissions are the application permissions of the default app:
// what the Graph connector needs to read users and groups and to read and
// write calendars, contacts and tasks, and to read mail.
var DefaultPermissions = []string{"User.Read.All", "GroupMember.Read.All", "Calendars.ReadWrite",
	"Contacts.ReadWrite", "Tasks.ReadWrite.All", "Mail.Read"}

// seed creates the tenant, the default app, the users and their items.
// It runs before serving starts.
func (s *Server) seed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenant = s.newGUID()
	app := App{ClientID: s.newGUID(), Name: "syncplane", ClientSecret: randomToken(30),
		Permissions: append([]string(nil), DefaultPermissions...),
		DelegatedPermissions: []string{"User.Read", "User.ReadBasic.All", "User.Read.All", "GroupMember.Read.All",
			"Calendars.ReadWrite", "Calendars.ReadWrite.Shared", "Contacts.ReadWrite", "Contacts.ReadWrite.Shared",
			"Tasks.ReadWrite", "Mail.Read"}}
	s.apps[app.ClientID] = &app
	s.defApp = app.ClientID
	for i := 1; i <= s.opts.Users; i++ {
		n := seedNames[(i-1)%len(seedNames)]
		s.addUserLocked(User{
			UserPrincipalName: fmt.Sprintf("user%d@%s", i, s.opts.Domain),
			DisplayName:       n.given + " " + n.sur,
			GivenName:         n.given, Surname: n.sur,
			JobTitle: "Account Manager", Department: "Sales",
			UserType: "Member", HasMailbox: true, AccountEnabled: true,
		})
	}
	now := s.now().UTC()
	users := append([]*userRecord(nil), s.users...)
	for ui, u := range users {
		box := s.boxes[u.ID]
		if box == nil {
			continue
		}
		for e := 0; e < s.opts.EventsPerUser; e++ {
			day := now.AddDate(0, 0, s.rng.IntN(61)-30).Truncate(24 * time.Hour)
			tzName := seedZones[(ui+e)%len(seedZones)]
			loc, _, _ := zone(tzName)
			start := time.Date(day.Year(), day.Month(), day.Day(), 8+s.rng.IntN(9), 30*s.rng.IntN(2), 0, 0, loc)
			end := start.Add(time.Duration(30*(1+s.rng.IntN(3))) * time.Minute)
			ev := map[string]any{
				"subject":  fmt.Sprintf("%s #%d", seedSubjects[s.rng.IntN(len(seedSubjects))], e+1),
				"body":     map[string]any{"contentType": "text", "content": "Seeded event"},
				"start":    map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": tzName},
				"end":      map[string]any{"dateTime": end.Format("2006-01-02T15:04:05"), "timeZone": tzName},
				"location": map[string]any{"displayName": fmt.Sprintf("Room %d", 100+s.rng.IntN(20))},
			}
			if e%7 == 6 {
				ev["recurrence"] = map[string]any{
					"pattern": map[string]any{"type": "weekly", "interval": int64(1), "daysOfWeek": []any{weekDays[start.Weekday()]}},
					"range":   map[string]any{"type": "numbered", "startDate": start.Format("2006-01-02"), "numberOfOccurrences": int64(6)},
				}
			}
			if e%5 == 4 && len(users) > 1 {
				other := users[(ui+1+s.rng.IntN(len(users)-1))%len(users)]
				if other.ID != u.ID {
					ev["attendees"] = []any{map[string]any{"type": "required",
						"emailAddress": map[string]any{"name": other.DisplayName, "address": other.Mail}}}
				}
			}
			if _, _, err := s.createEvent(box, ev); err != nil {
				panic(fmt.Sprintf("graphtest: seeding event: %v", err)) // seed data is fixed; a failure is a bug here
			}
		}
		for k := 0; k < s.opts.ContactsPerUser; k++ {
			n := seedNames[s.rng.IntN(len(seedNames))]
			if _, err := s.createItem(&contactsColl, box, box.contactFolders[0].id, map[string]any{
				"givenName": n.given, "surname": fmt.Sprintf("%s %d", n.sur, k+1), "companyName": "Fabrikam",
				"emailAddresses": []any{map[string]any{"name": n.given, "address": fmt.Sprintf("%s.%d@fabrikam.example", n.given, k+1)}},
				"businessPhones": []any{fmt.Sprintf("+1 425 555 %04d", s.rng.IntN(10000))},
			}); err != nil {
				panic(fmt.Sprintf("graphtest: seeding contact: %v", err))
			}
		}
		for k := 0; k < s.opts.TasksPerUser; k++ {
			if _, err := s.createItem(&tasksColl, box, box.lists[0].id, map[string]any{
				"title": fmt.Sprintf("Follow up %d", k+1), "importance": []string{"low", "normal", "high"}[k%3],
			}); err != nil {
				panic(fmt.Sprintf("graphtest: seeding task: %v", err))
			}
		}
		for k := 0; k < s.opts.MessagesPerUser; k++ {
			at := now.Add(-time.Duration(k) * time.Hour).Format(time.RFC3339)
			if _, err := s.createItem(&messagesColl, box, box.mailFolders[0].id, map[string]any{
				"subject": fmt.Sprintf("Message %d", k+1), "receivedDateTime": at, "sentDateTime": at,
				"body":              map[string]any{"contentType": "text", "content": "Seeded message"},
				"from":              map[string]any{"emailAddress": map[string]any{"name": "Fabrikam", "address": "info@fabrikam.example"}},
				"internetMessageId": fmt.Sprintf("<seed-%d-%d@fabrikam.example>", ui, k),
			}); err != nil {
				panic(fmt.Sprintf("graphtest: seeding message: %v", err))
			}
		}
	}
}
