package wire

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/syncplane/syncplane/connector"
	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
	"github.com/syncplane/syncplane/schema"
)

// DiagnosticToProto converts one diagnostic. An empty severity is an error,
// an unknown code becomes INTERNAL with the original code kept in the detail.
func DiagnosticToProto(d *connector.Diagnostic) *pb.Diagnostic {
	p := &pb.Diagnostic{
		Severity:  pb.Diagnostic_SEVERITY_ERROR,
		Summary:   d.Summary,
		Detail:    d.Detail,
		FieldPath: d.Field,
	}
	if d.Severity == connector.Warning {
		p.Severity = pb.Diagnostic_SEVERITY_WARNING
	}
	if c, ok := pb.Diagnostic_Code_value["CODE_"+string(d.Code)]; ok && d.Code != "" {
		p.Code = pb.Diagnostic_Code(c)
	} else {
		p.Code = pb.Diagnostic_CODE_INTERNAL
		if d.Code != "" {
			p.Detail = strings.TrimSpace(fmt.Sprintf("code %s; %s", d.Code, d.Detail))
		}
	}
	if d.RetryAfter > 0 {
		p.RetryAfter = durationpb.New(d.RetryAfter)
	}
	return p
}

// DiagnosticFromProto converts one diagnostic back. An unspecified severity
// is an error and an unspecified code INTERNAL, so nothing is lost silently.
func DiagnosticFromProto(p *pb.Diagnostic) *connector.Diagnostic {
	d := &connector.Diagnostic{
		Severity: connector.Error,
		Code:     connector.Internal,
		Summary:  p.GetSummary(),
		Detail:   p.GetDetail(),
		Field:    p.GetFieldPath(),
	}
	if p.GetSeverity() == pb.Diagnostic_SEVERITY_WARNING {
		d.Severity = connector.Warning
	}
	if c := p.GetCode(); c != pb.Diagnostic_CODE_UNSPECIFIED {
		if name, ok := pb.Diagnostic_Code_name[int32(c)]; ok {
			d.Code = connector.Code(strings.TrimPrefix(name, "CODE_"))
		}
	}
	if ra := p.GetRetryAfter(); ra != nil {
		d.RetryAfter = ra.AsDuration()
	}
	return d
}

// DiagnosticsToProto converts a list of diagnostics.
func DiagnosticsToProto(ds connector.Diagnostics) []*pb.Diagnostic {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*pb.Diagnostic, 0, len(ds))
	for _, d := range ds {
		if d != nil {
			out = append(out, DiagnosticToProto(d))
		}
	}
	return out
}

// DiagnosticsFromProto converts a list of diagnostics back.
func DiagnosticsFromProto(ps []*pb.Diagnostic) connector.Diagnostics {
	if len(ps) == 0 {
		return nil
	}
	out := make(connector.Diagnostics, len(ps))
	for i, p := range ps {
		out[i] = DiagnosticFromProto(p)
	}
	return out
}

// errToProto turns a connector's error into the diagnostics of a response.
func errToProto(err error) []*pb.Diagnostic {
	return DiagnosticsToProto(connector.AsDiagnostics(err))
}

// SpecToProto converts a spec.
func SpecToProto(s connector.Spec) *pb.GetSpecResponse {
	return &pb.GetSpecResponse{
		Name:            s.Name,
		Version:         s.Version,
		ProtocolVersion: int32(s.ProtocolVersion),
		DisplayName:     s.DisplayName,
		Description:     s.Description,
		Capabilities: &pb.Capabilities{
			Read:        s.Capabilities.Read,
			ReadChanges: s.Capabilities.ReadChanges,
			Write:       s.Capabilities.Write,
			Query:       s.Capabilities.Query,
			Subscribe:   s.Capabilities.Subscribe,
		},
		SettingsSchema: string(s.SettingsSchema),
		SecretSettings: s.SecretSettings,
	}
}

// SpecFromProto converts a spec back.
func SpecFromProto(p *pb.GetSpecResponse) connector.Spec {
	c := p.GetCapabilities()
	s := connector.Spec{
		Name:            p.GetName(),
		Version:         p.GetVersion(),
		ProtocolVersion: int(p.GetProtocolVersion()),
		DisplayName:     p.GetDisplayName(),
		Description:     p.GetDescription(),
		Capabilities: connector.Capabilities{
			Read:        c.GetRead(),
			ReadChanges: c.GetReadChanges(),
			Write:       c.GetWrite(),
			Query:       c.GetQuery(),
			Subscribe:   c.GetSubscribe(),
		},
		SecretSettings: p.GetSecretSettings(),
	}
	if p.GetSettingsSchema() != "" {
		s.SettingsSchema = json.RawMessage(p.GetSettingsSchema())
	}
	return s
}

var kindToProto = map[schema.Kind]pb.Type_Kind{
	schema.Bool:       pb.Type_KIND_BOOL,
	schema.Int:        pb.Type_KIND_INT,
	schema.Double:     pb.Type_KIND_DOUBLE,
	schema.String:     pb.Type_KIND_STRING,
	schema.Bytes:      pb.Type_KIND_BYTES,
	schema.Timestamp:  pb.Type_KIND_TIMESTAMP,
	schema.Date:       pb.Type_KIND_DATE,
	schema.Enum:       pb.Type_KIND_ENUM,
	schema.Complex:    pb.Type_KIND_COMPLEX,
	schema.Collection: pb.Type_KIND_COLLECTION,
	schema.Any:        pb.Type_KIND_ANY,
}

// SchemaToProto converts a schema. A kind outside schema.Kinds is an error
// naming the entity and field.
func SchemaToProto(s *schema.Schema) (*pb.Schema, error) {
	if s == nil {
		return nil, nil
	}
	out := &pb.Schema{Entities: make([]*pb.Entity, len(s.Entities))}
	for i, e := range s.Entities {
		fields, err := fieldsDefToProto(e.Name, e.Fields)
		if err != nil {
			return nil, err
		}
		out.Entities[i] = &pb.Entity{
			Name:          e.Name,
			Description:   e.Description,
			Fields:        fields,
			KeyFields:     e.Keys,
			ModifiedField: e.ModifiedField,
			VersionField:  e.VersionField,
			Capabilities: &pb.EntityCapabilities{
				Readable:  e.Capabilities.Readable,
				Changes:   e.Capabilities.Changes,
				Writable:  e.Capabilities.Writable,
				Deletable: e.Capabilities.Deletable,
				Queryable: e.Capabilities.Queryable,
			},
			Partitioning: &pb.Partitioning{
				Partitioned: e.Partitioning.Partitioned,
				Field:       e.Partitioning.Field,
				Description: e.Partitioning.Description,
			},
		}
	}
	return out, nil
}

func fieldsDefToProto(where string, fs []schema.Field) ([]*pb.Field, error) {
	if fs == nil {
		return nil, nil
	}
	out := make([]*pb.Field, len(fs))
	for i, f := range fs {
		t, err := typeToProto(where+"."+f.Name, f.Type)
		if err != nil {
			return nil, err
		}
		out[i] = &pb.Field{
			Name:        f.Name,
			Type:        t,
			Nullable:    f.Nullable,
			ReadOnly:    f.ReadOnly,
			Required:    f.Required,
			Description: f.Description,
		}
	}
	return out, nil
}

func typeToProto(path string, t schema.Type) (*pb.Type, error) {
	k, ok := kindToProto[t.Kind]
	if !ok {
		return nil, fmt.Errorf("schema field %s: invalid kind %q", path, t.Kind)
	}
	fields, err := fieldsDefToProto(path, t.Fields)
	if err != nil {
		return nil, err
	}
	p := &pb.Type{Kind: k, Name: t.Name, Fields: fields, EnumValues: t.Values}
	if t.Elem != nil {
		if p.Element, err = typeToProto(path+"[]", *t.Elem); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// SchemaFromProto converts a schema back. An unspecified or unknown kind is
// an error naming the entity and field.
func SchemaFromProto(p *pb.Schema) (*schema.Schema, error) {
	if p == nil {
		return nil, nil
	}
	out := &schema.Schema{Entities: make([]schema.Entity, len(p.GetEntities()))}
	for i, e := range p.GetEntities() {
		fields, err := fieldsDefFromProto(e.GetName(), e.GetFields())
		if err != nil {
			return nil, err
		}
		c, pt := e.GetCapabilities(), e.GetPartitioning()
		out.Entities[i] = schema.Entity{
			Name:          e.GetName(),
			Description:   e.GetDescription(),
			Fields:        fields,
			Keys:          e.GetKeyFields(),
			ModifiedField: e.GetModifiedField(),
			VersionField:  e.GetVersionField(),
			Capabilities: schema.Capabilities{
				Readable:  c.GetReadable(),
				Changes:   c.GetChanges(),
				Writable:  c.GetWritable(),
				Deletable: c.GetDeletable(),
				Queryable: c.GetQueryable(),
			},
			Partitioning: schema.Partitioning{
				Partitioned: pt.GetPartitioned(),
				Field:       pt.GetField(),
				Description: pt.GetDescription(),
			},
		}
	}
	return out, nil
}

func fieldsDefFromProto(where string, ps []*pb.Field) ([]schema.Field, error) {
	if ps == nil {
		return nil, nil
	}
	out := make([]schema.Field, len(ps))
	for i, f := range ps {
		t, err := typeFromProto(where+"."+f.GetName(), f.GetType())
		if err != nil {
			return nil, err
		}
		out[i] = schema.Field{
			Name:        f.GetName(),
			Type:        t,
			Nullable:    f.GetNullable(),
			ReadOnly:    f.GetReadOnly(),
			Required:    f.GetRequired(),
			Description: f.GetDescription(),
		}
	}
	return out, nil
}

func typeFromProto(path string, p *pb.Type) (schema.Type, error) {
	var kind schema.Kind
	for k, pk := range kindToProto {
		if pk == p.GetKind() {
			kind = k
		}
	}
	if kind == "" {
		return schema.Type{}, fmt.Errorf("schema field %s: invalid kind %s", path, p.GetKind())
	}
	fields, err := fieldsDefFromProto(path, p.GetFields())
	if err != nil {
		return schema.Type{}, err
	}
	t := schema.Type{Kind: kind, Name: p.GetName(), Fields: fields, Values: p.GetEnumValues()}
	if p.GetElement() != nil {
		elem, err := typeFromProto(path+"[]", p.GetElement())
		if err != nil {
			return schema.Type{}, err
		}
		t.Elem = &elem
	}
	return t, nil
}

// changesToProto normalizes and converts the changes of a batch.
func changesToProto(cs []connector.Change) ([]*pb.Change, error) {
	out := make([]*pb.Change, len(cs))
	for i := range cs {
		if err := cs[i].Record.Normalize(); err != nil {
			return nil, err
		}
		r, err := RecordToProto(&cs[i].Record)
		if err != nil {
			return nil, err
		}
		op := pb.Change_OPERATION_UPSERT
		switch cs[i].Op {
		case connector.Upsert:
		case connector.Delete:
			op = pb.Change_OPERATION_DELETE
		default:
			return nil, fmt.Errorf("change of record %q: invalid operation %s", cs[i].Record.ID, cs[i].Op)
		}
		out[i] = &pb.Change{Operation: op, Record: r}
	}
	return out, nil
}

func changesFromProto(ps []*pb.Change) ([]connector.Change, error) {
	out := make([]connector.Change, len(ps))
	for i, p := range ps {
		r, err := RecordFromProto(p.GetRecord())
		if err != nil {
			return nil, err
		}
		var op connector.Operation
		switch p.GetOperation() {
		case pb.Change_OPERATION_UPSERT:
			op = connector.Upsert
		case pb.Change_OPERATION_DELETE:
			op = connector.Delete
		default:
			return nil, fmt.Errorf("change of record %q: invalid operation %s", r.ID, p.GetOperation())
		}
		out[i] = connector.Change{Op: op, Record: r}
	}
	return out, nil
}

var statusToProto = map[connector.Status]pb.WriteOutcome_Status{
	connector.Created:   pb.WriteOutcome_STATUS_CREATED,
	connector.Updated:   pb.WriteOutcome_STATUS_UPDATED,
	connector.Unchanged: pb.WriteOutcome_STATUS_UNCHANGED,
	connector.Deleted:   pb.WriteOutcome_STATUS_DELETED,
	connector.Rejected:  pb.WriteOutcome_STATUS_REJECTED,
}

// writeBatchToProto normalizes and converts a write batch.
func writeBatchToProto(b connector.WriteBatch) (*pb.WriteRequest, error) {
	req := &pb.WriteRequest{Entity: b.Entity, Operations: make([]*pb.WriteOperation, len(b.Ops))}
	for i := range b.Ops {
		op := &b.Ops[i]
		var action pb.WriteOperation_Action
		switch op.Action {
		case connector.ActionUpsert:
			action = pb.WriteOperation_ACTION_UPSERT
		case connector.ActionDelete:
			action = pb.WriteOperation_ACTION_DELETE
		default:
			return nil, fmt.Errorf("write op %d (key %q): invalid action %d", i, op.IdempotencyKey, op.Action)
		}
		if err := op.Record.Normalize(); err != nil {
			return nil, fmt.Errorf("write op %d: %w", i, err)
		}
		r, err := RecordToProto(&op.Record)
		if err != nil {
			return nil, fmt.Errorf("write op %d: %w", i, err)
		}
		req.Operations[i] = &pb.WriteOperation{
			Action:         action,
			IdempotencyKey: op.IdempotencyKey,
			TargetId:       op.TargetID,
			Record:         r,
			Partition:      op.Partition,
		}
	}
	return req, nil
}

func writeBatchFromProto(p *pb.WriteRequest) (connector.WriteBatch, error) {
	b := connector.WriteBatch{Entity: p.GetEntity(), Ops: make([]connector.WriteOp, len(p.GetOperations()))}
	for i, o := range p.GetOperations() {
		var action connector.Action
		switch o.GetAction() {
		case pb.WriteOperation_ACTION_UPSERT:
			action = connector.ActionUpsert
		case pb.WriteOperation_ACTION_DELETE:
			action = connector.ActionDelete
		default:
			return b, fmt.Errorf("write op %d (key %q): invalid action %s", i, o.GetIdempotencyKey(), o.GetAction())
		}
		r, err := RecordFromProto(o.GetRecord())
		if err != nil {
			return b, fmt.Errorf("write op %d: %w", i, err)
		}
		b.Ops[i] = connector.WriteOp{
			Action:         action,
			IdempotencyKey: o.GetIdempotencyKey(),
			TargetID:       o.GetTargetId(),
			Partition:      o.GetPartition(),
			Record:         r,
		}
	}
	return b, nil
}

func outcomesToProto(os []connector.WriteOutcome) ([]*pb.WriteOutcome, error) {
	out := make([]*pb.WriteOutcome, len(os))
	for i := range os {
		o := &os[i]
		st, ok := statusToProto[o.Status]
		if !ok {
			return nil, fmt.Errorf("outcome %d (key %q): invalid status %d", i, o.IdempotencyKey, o.Status)
		}
		p := &pb.WriteOutcome{
			IdempotencyKey: o.IdempotencyKey,
			Status:         st,
			TargetId:       o.TargetID,
			Version:        o.Version,
			Diagnostics:    DiagnosticsToProto(o.Diagnostics),
		}
		if o.Stored != nil {
			if err := o.Stored.Normalize(); err != nil {
				return nil, fmt.Errorf("outcome %d stored record: %w", i, err)
			}
			r, err := RecordToProto(o.Stored)
			if err != nil {
				return nil, fmt.Errorf("outcome %d stored record: %w", i, err)
			}
			p.Stored = r
		}
		out[i] = p
	}
	return out, nil
}

func outcomesFromProto(ps []*pb.WriteOutcome) ([]connector.WriteOutcome, error) {
	out := make([]connector.WriteOutcome, len(ps))
	for i, p := range ps {
		var st connector.Status
		for s, ps := range statusToProto {
			if ps == p.GetStatus() {
				st = s
			}
		}
		if st == 0 {
			return nil, fmt.Errorf("outcome %d (key %q): invalid status %s", i, p.GetIdempotencyKey(), p.GetStatus())
		}
		o := connector.WriteOutcome{
			IdempotencyKey: p.GetIdempotencyKey(),
			Status:         st,
			TargetID:       p.GetTargetId(),
			Version:        p.GetVersion(),
			Diagnostics:    DiagnosticsFromProto(p.GetDiagnostics()),
		}
		if p.GetStored() != nil {
			r, err := RecordFromProto(p.GetStored())
			if err != nil {
				return nil, fmt.Errorf("outcome %d stored record: %w", i, err)
			}
			o.Stored = &r
		}
		out[i] = o
	}
	return out, nil
}
