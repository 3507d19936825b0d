package zoho

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/syncplane/syncplane/connector"
	"github.com/syncplane/syncplane/schema"
)

// fieldMeta is one field of a module as /settings/fields and
// /settings/layouts describe it (crm-api-facts.md §A5).
type fieldMeta struct {
	APIName        string      `json:"api_name"`
	Label          string      `json:"display_label"`
	DataType       string      `json:"data_type"`
	JSONType       string      `json:"json_type"`
	Length         any         `json:"length"`
	SystemMand     bool        `json:"system_mandatory"`
	ReadOnly       bool        `json:"read_only"`
	FieldReadOnly  bool        `json:"field_read_only"`
	PickListValues []pickValue `json:"pick_list_values"`
	Lookup         struct {
		Module struct {
			APIName string `json:"api_name"`
		} `json:"module"`
	} `json:"lookup"`
	OperationType map[string]bool `json:"operation_type"`

	layoutRequired bool
}

type pickValue struct {
	Actual  string `json:"actual_value"`
	Display string `json:"display_value"`
}

func (f *fieldMeta) readOnly() bool {
	if f.ReadOnly || f.FieldReadOnly {
		return true
	}
	if f.OperationType != nil {
		create, okc := f.OperationType["api_create"]
		update, oku := f.OperationType["api_update"]
		if okc && oku && !create && !update {
			return true
		}
	}
	return false
}

func (f *fieldMeta) required() bool { return (f.SystemMand || f.layoutRequired) && !f.readOnly() }

// moduleMeta is a module's metadata.
type moduleMeta struct {
	APIName      string `json:"api_name"`
	PluralLabel  string `json:"plural_label"`
	APISupported bool   `json:"api_supported"`
	Creatable    bool   `json:"creatable"`
	Editable     bool   `json:"editable"`
	Deletable    bool   `json:"deletable"`
	Viewable     bool   `json:"viewable"`

	fields  []*fieldMeta
	byName  map[string]*fieldMeta
	hasWhat bool
}

// upsertModules are the modules whose records Zoho can upsert, with their
// system duplicate-check fields (§A3.5); activities cannot be upserted.
var upsertModules = map[string][]string{"Contacts": {"Email"}, "Leads": {"Email"}, "Accounts": {"Account_Name"}, "Deals": {"Deal_Name"}}

// metadata returns the modules' metadata, fetched once per connection and
// again when refresh is set.
func (c *Connector) metadata(ctx context.Context, refresh bool) (map[string]*moduleMeta, error) {
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	if c.meta != nil && !refresh {
		return c.meta, nil
	}
	res, err := c.api.do(ctx, request{method: http.MethodGet, path: "settings/modules", credits: 1}, nil)
	if err != nil {
		return nil, fmt.Errorf("listing Zoho CRM modules: %w", err)
	}
	var mods struct {
		Modules []*moduleMeta `json:"modules"`
	}
	if err := decode(res.body, &mods); err != nil {
		return nil, connector.Errorf(connector.Internal, "%v", err)
	}
	byAPI := map[string]*moduleMeta{}
	for _, m := range mods.Modules {
		byAPI[strings.ToLower(m.APIName)] = m
	}
	out := map[string]*moduleMeta{}
	for _, name := range c.set.Modules {
		m, ok := byAPI[strings.ToLower(name)]
		if !ok || !m.APISupported {
			return nil, connector.FieldErrorf(connector.NotFound, "modules", "module %q is not an API-supported module of this Zoho CRM org", name)
		}
		if err := c.loadFields(ctx, m); err != nil {
			return nil, err
		}
		out[m.APIName] = m
	}
	c.meta = out
	c.schema = nil
	return out, nil
}

func (c *Connector) loadFields(ctx context.Context, m *moduleMeta) error {
	q := url.Values{"module": {m.APIName}}
	res, err := c.api.do(ctx, request{method: http.MethodGet, path: "settings/fields", query: q, credits: 1}, nil)
	if err != nil {
		return fmt.Errorf("reading the fields of module %s: %w", m.APIName, err)
	}
	var fs struct {
		Fields []*fieldMeta `json:"fields"`
	}
	if err := decode(res.body, &fs); err != nil {
		return connector.Errorf(connector.Internal, "fields of %s: %v", m.APIName, err)
	}
	m.fields = fs.Fields
	m.byName = map[string]*fieldMeta{}
	for _, f := range m.fields {
		m.byName[f.APIName] = f
		if f.APIName == "What_Id" {
			m.hasWhat = true
		}
	}
	// Layout-level required fields count as mandatory too (§A5).
	res, err = c.api.do(ctx, request{method: http.MethodGet, path: "settings/layouts", query: q, credits: 1}, nil)
	if err != nil {
		return fmt.Errorf("reading the layouts of module %s: %w", m.APIName, err)
	}
	var ls struct {
		Layouts []struct {
			Status   string `json:"status"`
			Sections []struct {
				Fields []struct {
					APIName  string `json:"api_name"`
					Required bool   `json:"required"`
				} `json:"fields"`
			} `json:"sections"`
		} `json:"layouts"`
	}
	if err := decode(res.body, &ls); err != nil {
		return connector.Errorf(connector.Internal, "layouts of %s: %v", m.APIName, err)
	}
	for _, l := range ls.Layouts {
		if l.Status != "" && l.Status != "active" {
			continue
		}
		for _, s := range l.Sections {
			for _, lf := range s.Fields {
				if f, ok := m.byName[lf.APIName]; ok && lf.Required {
					f.layoutRequired = true
				}
			}
		}
	}
	return nil
}

// DiscoverSchema returns one entity per configured module, built from
// /settings/modules, /settings/fields and /settings/layouts. It is cached
// per connection; refresh fetches the metadata again.
func (c *Connector) DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error) {
	meta, err := c.metadata(ctx, refresh)
	if err != nil {
		return nil, err
	}
	c.metaMu.Lock()
	defer c.metaMu.Unlock()
	if c.schema != nil {
		return c.schema, nil
	}
	s := &schema.Schema{}
	for _, name := range c.set.Modules {
		for api, m := range meta {
			if strings.EqualFold(api, name) {
				s.Entities = append(s.Entities, entityOf(m))
			}
		}
	}
	c.schema = s
	return s, nil
}

func str() schema.Type { return schema.Type{Kind: schema.String} }

func entityOf(m *moduleMeta) schema.Entity {
	e := schema.Entity{
		Name:          m.APIName,
		Description:   fmt.Sprintf("Zoho CRM module %s (%s)", m.APIName, m.PluralLabel),
		Keys:          []string{"id"},
		ModifiedField: "Modified_Time",
		Capabilities: schema.Capabilities{Readable: m.Viewable || m.APISupported, Changes: true,
			Writable: m.Creatable || m.Editable, Deletable: m.Deletable, Queryable: true},
		Fields: []schema.Field{{Name: "id", Type: schema.Type{Kind: schema.String, Name: "bigint"}, ReadOnly: true, Description: "Zoho record id"}},
	}
	for _, f := range m.fields {
		if f.APIName == "id" {
			continue
		}
		e.Fields = append(e.Fields, schema.Field{Name: f.APIName, Type: typeOf(f), Nullable: !f.SystemMand || f.readOnly(),
			ReadOnly: f.readOnly(), Required: f.required(), Description: f.Label})
	}
	if _, ok := m.byName["Modified_Time"]; ok {
		// Modified_Time is also the concurrency value: Record.Version and a
		// write's WriteOutcome.Version carry it as RFC 3339 UTC.
		e.VersionField = "Modified_Time"
	}
	if m.hasWhat {
		// $se_module names the module of What_Id (§A4).
		e.Fields = append(e.Fields, schema.Field{Name: "$se_module", Type: str(), Nullable: true, Description: "module of What_Id"})
	}
	return e
}

// typeOf maps a Zoho data_type (§A5) to a neutral type.
func typeOf(f *fieldMeta) schema.Type {
	t := schema.Type{Name: f.DataType}
	switch f.DataType {
	case "text", "textarea", "email", "phone", "website", "autonumber", "formula":
		t.Kind = schema.String
	case "picklist":
		t.Kind = schema.String
		if vs := pickValues(f); len(vs) > 0 {
			t.Kind, t.Values = schema.Enum, vs
		}
	case "multiselectpicklist":
		elem := schema.Type{Kind: schema.String}
		if vs := pickValues(f); len(vs) > 0 {
			elem = schema.Type{Kind: schema.Enum, Values: vs}
		}
		t.Kind, t.Elem = schema.Collection, &elem
	case "date":
		t.Kind = schema.Date
	case "datetime":
		t.Kind = schema.Timestamp
	case "boolean":
		t.Kind = schema.Bool
	case "integer", "bigint":
		t.Kind = schema.Int
	case "double", "currency", "percent", "decimal":
		t.Kind = schema.Double
	case "lookup", "userlookup":
		t.Kind = schema.Complex
		t.Fields = []schema.Field{{Name: "id", Type: str()}, {Name: "name", Type: str(), Nullable: true}}
	case "ownerlookup":
		t.Kind = schema.Complex
		t.Fields = []schema.Field{{Name: "id", Type: str()}, {Name: "name", Type: str(), Nullable: true}, {Name: "email", Type: str(), Nullable: true}}
	case "participants":
		elem := schema.Type{Kind: schema.Complex, Name: "participant", Fields: []schema.Field{
			{Name: "type", Type: schema.Type{Kind: schema.Enum, Values: []string{"contact", "lead", "user", "email"}}},
			{Name: "participant", Type: str()}, {Name: "name", Type: str(), Nullable: true}, {Name: "Email", Type: str(), Nullable: true},
			{Name: "invited", Type: schema.Type{Kind: schema.Bool}, ReadOnly: true}, {Name: "status", Type: str(), ReadOnly: true},
			{Name: "id", Type: str(), ReadOnly: true}}}
		t.Kind, t.Elem = schema.Collection, &elem
	case "multireminder":
		elem := schema.Type{Kind: schema.Complex, Name: "reminder", Fields: []schema.Field{
			{Name: "unit", Type: schema.Type{Kind: schema.Int}}, {Name: "period", Type: str()}, {Name: "time", Type: str(), Nullable: true}}}
		t.Kind, t.Elem = schema.Collection, &elem
	case "RRULE":
		t.Kind, t.Fields = schema.Complex, []schema.Field{{Name: "RRULE", Type: str()}}
	case "ALARM":
		t.Kind, t.Fields = schema.Complex, []schema.Field{{Name: "ALARM", Type: str()}}
	default:
		t.Kind = schema.Any
	}
	return t
}

func pickValues(f *fieldMeta) []string {
	var vs []string
	for _, p := range f.PickListValues {
		if p.Actual != "" {
			vs = append(vs, p.Actual)
		}
	}
	return vs
}
