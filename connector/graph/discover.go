package graph

import (
	"bytes"
	"context"
	"fmt"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
	"github.com/syncplane/syncplane/schema/csdl"
)

// entityDef says how an entity of the schema is read.
type entityDef struct {
	typeName    string
	description string
	writable    bool
}

// mailboxEntities are the entities kept per mailbox.
var mailboxEntities = map[string]entityDef{
	"event":    {typeName: "microsoft.graph.event", writable: true, description: "Calendar events of the mailbox's primary calendar, inside the sync window (calendarView delta)."},
	"contact":  {typeName: "microsoft.graph.contact", writable: true, description: "Contacts of a contact folder (the default folder unless entities.contacts.folder is set)."},
	"todoTask": {typeName: "microsoft.graph.todoTask", writable: true, description: "Microsoft To Do tasks of a list (the default list unless entities.todo.list is set)."},
	"message":  {typeName: "microsoft.graph.message", description: "Messages of a mail folder (Inbox unless entities.messages.folder is set); read-only."},
}

// entityOrder is the order entities appear in the schema.
var entityOrder = []string{"event", "contact", "todoTask", "message", "user"}

// DiscoverSchema reads the service's $metadata and converts event, contact,
// todoTask, message and user into schema entities: complex types resolved,
// id the key, lastModifiedDateTime and changeKey marked, plus the fields
// user (the mailbox, the partition field) and isDeleted. The result is
// cached for the connection; refresh reads $metadata again.
func (c *Connector) DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error) {
	if err := c.configured(); err != nil {
		return nil, err
	}
	c.schemaMu.Lock()
	defer c.schemaMu.Unlock()
	if c.schema != nil && !refresh {
		return c.schema, nil
	}
	resp, err := c.client.do(ctx, request{method: "GET", url: "/v1.0/$metadata"})
	if err != nil {
		return nil, fmt.Errorf("reading Graph $metadata: %w", subjectErr(err, "the $metadata document"))
	}
	s, err := schemaFromMetadata(resp.body)
	if err != nil {
		return nil, err
	}
	c.schema = s
	return s, nil
}

// schemaFromMetadata builds the connector's schema from a CSDL document.
func schemaFromMetadata(metadata []byte) (*schema.Schema, error) {
	doc, err := csdl.Parse(bytes.NewReader(metadata))
	if err != nil {
		return nil, connector.Errorf(connector.Internal, "Graph's $metadata cannot be read").WithDetail("%v", err)
	}
	s := &schema.Schema{}
	for _, name := range entityOrder {
		if name == "user" {
			ent, err := doc.Entity("microsoft.graph.user", csdl.ConvertOptions{Name: "user"})
			if err != nil {
				return nil, connector.Errorf(connector.Internal, "Graph's $metadata has no usable user type").WithDetail("%v", err)
			}
			ent.Description = "Users of the directory (not partitioned)."
			markReadOnly(&ent, "id")
			ent.Capabilities = schema.Capabilities{Readable: true, Queryable: true}
			s.Entities = append(s.Entities, ent)
			continue
		}
		def := mailboxEntities[name]
		ent, err := doc.Entity(def.typeName, csdl.ConvertOptions{Name: name})
		if err != nil {
			return nil, connector.Errorf(connector.Internal, "Graph's $metadata has no usable %s type", def.typeName).WithDetail("%v", err)
		}
		ent.Description = def.description
		if _, ok := ent.Field("lastModifiedDateTime"); ok {
			ent.ModifiedField = "lastModifiedDateTime"
		}
		if _, ok := ent.Field("changeKey"); ok {
			ent.VersionField = "changeKey"
		}
		markReadOnly(&ent, "id", "changeKey", "lastModifiedDateTime", "createdDateTime")
		ent.Fields = append(ent.Fields,
			schema.Field{Name: "user", Type: schema.Type{Kind: schema.String}, Description: "User principal name of the mailbox the record lives in (the partition)."},
			schema.Field{Name: "isDeleted", Type: schema.Type{Kind: schema.Bool}, ReadOnly: true, Description: "True on a record deleted in the mailbox."},
		)
		ent.Capabilities = schema.Capabilities{Readable: true, Changes: true, Queryable: true, Writable: def.writable, Deletable: def.writable}
		ent.Partitioning = schema.Partitioning{Partitioned: true, Field: "user", Description: "one mailbox"}
		s.Entities = append(s.Entities, ent)
	}
	if errs := s.Validate(); len(errs) > 0 {
		return nil, connector.Errorf(connector.Internal, "the schema built from Graph's $metadata is invalid").WithDetail("%v", errs)
	}
	return s, nil
}

func markReadOnly(e *schema.Entity, names ...string) {
	for _, n := range names {
		if f, ok := e.Field(n); ok {
			f.ReadOnly = true
		}
	}
}
