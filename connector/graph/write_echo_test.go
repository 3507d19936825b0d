package graph

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/connector/graph/graphtest"
)

// fieldDiff lists the fields in which two records differ.
func fieldDiff(a, b map[string]any) []string {
	var out []string
	seen := map[string]bool{}
	for k, v := range a {
		seen[k] = true
		if !reflect.DeepEqual(v, b[k]) {
			out = append(out, fmt.Sprintf("%s: written %#v, read %#v", k, v, b[k]))
		}
	}
	for k, v := range b {
		if !seen[k] {
			out = append(out, fmt.Sprintf("%s: only read (%#v)", k, v))
		}
	}
	sort.Strings(out)
	return out
}

// TestWriteOutcomeEchoesRead checks what echo suppression relies on: the
// outcome's Version is the changeKey the record read back through
// ReadChanges carries (in its changeKey field, the schema's change field),
// and Stored equals that record, field for field, for creates and updates
// of events (written in another time zone, a Teams meeting), contacts and
// To Do tasks.
func TestWriteOutcomeEchoesRead(t *testing.T) {
	for _, tz := range []string{"", "W. Europe Standard Time"} {
		t.Run("timezone="+tz, func(t *testing.T) {
			e := startEmu(t, graphtest.Options{Users: 2})
			extra := map[string]any{"users": map[string]any{"list": "user1@contoso.com;user2@contoso.com"}}
			if tz != "" {
				extra["timezone"] = tz
			}
			conn := e.connect(t, extra, nil)
			ctx := context.Background()
			if _, err := conn.ListPartitions(ctx, "event"); err != nil {
				t.Fatal(err)
			}
			start := time.Now().UTC().Add(72 * time.Hour).Truncate(time.Hour)
			cases := []struct {
				entity string
				create map[string]any
				update map[string]any
			}{
				{"event", map[string]any{"user": "user1@contoso.com", "subject": "echo",
					"start":           map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "Pacific Standard Time"},
					"end":             map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "Pacific Standard Time"},
					"isOnlineMeeting": true, "onlineMeetingProvider": "teamsForBusiness",
					"attendees": []any{map[string]any{"type": "required", "emailAddress": map[string]any{"address": "user2@contoso.com", "name": "User 2"}}},
				}, map[string]any{"user": "user1@contoso.com", "subject": "echo (moved)"}},
				{"contact", map[string]any{"user": "user1@contoso.com", "givenName": "Grace", "surname": "Hopper",
					"emailAddresses": []any{map[string]any{"address": "grace@example.com", "name": "Grace Hopper"}}},
					map[string]any{"user": "user1@contoso.com", "jobTitle": "Rear Admiral"}},
				{"todoTask", map[string]any{"user": "user1@contoso.com", "title": "Call back", "importance": "high"},
					map[string]any{"user": "user1@contoso.com", "status": "completed"}},
			}
			for _, tc := range cases {
				_, cp, _ := readAll(t, conn, tc.entity, "user1@contoso.com", nil)
				created := writeOne(t, conn, tc.entity, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: tc.entity + "-echo", Record: connector.Record{Fields: tc.create}})
				if created.Status != connector.Created || created.Stored == nil {
					t.Fatalf("%s create: %+v", tc.entity, created)
				}
				updated := writeOne(t, conn, tc.entity, connector.WriteOp{Action: connector.ActionUpsert, IdempotencyKey: tc.entity + "-echo-2", TargetID: created.TargetID, Record: connector.Record{Fields: tc.update}})
				if updated.Status != connector.Updated || updated.Stored == nil {
					t.Fatalf("%s update: %+v", tc.entity, updated)
				}
				chs, _, _ := readAll(t, conn, tc.entity, "user1@contoso.com", cp)
				var got *connector.Record
				for i := range chs {
					if chs[i].Record.ID == created.TargetID {
						got = &chs[i].Record
					}
				}
				if got == nil {
					t.Fatalf("%s %s not read back (%d changes)", tc.entity, created.TargetID, len(chs))
				}
				// The version is in the schema's version field (changeKey), or
				// for To Do tasks, which have none, its modified field.
				ent, _ := conn.entitySchema(ctx, tc.entity)
				var readVersion any
				if ent.VersionField != "" {
					readVersion = got.Fields[ent.VersionField]
					if got.Version != readVersion {
						t.Errorf("%s: read record version %q, field %v", tc.entity, got.Version, readVersion)
					}
				} else if ts, ok := got.Fields[ent.ModifiedField].(time.Time); ok {
					readVersion = ts.UTC().Format(time.RFC3339Nano)
				}
				if updated.Version == "" || updated.Version != readVersion {
					t.Errorf("%s: outcome version %q, read %v", tc.entity, updated.Version, readVersion)
				}
				if created.Version == "" || created.Version == updated.Version {
					t.Errorf("%s: create version %q, update version %q", tc.entity, created.Version, updated.Version)
				}
				if d := fieldDiff(updated.Stored.Fields, got.Fields); len(d) > 0 {
					t.Errorf("%s: Stored differs from the record read back:\n%s", tc.entity, joinLines(d))
				}
				if updated.Stored.ID != got.ID || updated.Stored.Partition != got.Partition || updated.Stored.Version != got.Version {
					t.Errorf("%s: Stored identity %q/%q/%q, read %q/%q/%q", tc.entity, updated.Stored.ID, updated.Stored.Partition, updated.Stored.Version, got.ID, got.Partition, got.Version)
				}
			}
		})
	}
}

func joinLines(s []string) string {
	out := ""
	for _, l := range s {
		out += "  " + l + "\n"
	}
	return out
}
