package connector

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/syncplane/syncplane/proto/syncplane/connector/v1"
	"github.com/syncplane/syncplane/schema"
)

// diagToProto converts one diagnostic. An empty severity is an error,
// an unknown code becomes INTERNAL with the original code kept in the detail.
func diagToProto(d *Diagnostic) *pb.Diagnostic {
	p := &pb.Diagnostic{
		Severity:  pb.Diagnostic_SEVERITY_ERROR,
		Summary:   d.Summary,
		Detail:    d.Detail,
		FieldPath: d.Field,
	}
	if d.Severity == Warning {
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

// diagFromProto converts one diagnostic back. An unspecified severity
// is an error and an unspecified code INTERNAL, so nothing is lost silently.
func diagFromProto(p *pb.Diagnostic) *Diagnostic {
	d := &Diagnostic{
		Severity: Error,
		Code:     Internal,
		Summary:  p.GetSummary(),
		Detail:   p.GetDetail(),
		Field:    p.GetFieldPath(),
	}
	if p.GetSeverity() == pb.Diagnostic_SEVERITY_WARNING {
		d.Severity = Warning
	}
	if c := p.GetCode(); c != pb.Diagnostic_CODE_UNSPECIFIED {
		if name, ok := pb.Diagnostic_Code_name[int32(c)]; ok {
			d.Code = Code(strings.TrimPrefix(name, "CODE_"))
		}
	}
	if ra := p.GetRetryAfter(); ra != nil {
		d.RetryAfter = ra.AsDuration()
	}
	return d
}

// diagsToProto converts a list of diagnostics.
func diagsToProto(ds Diagnostics) []*pb.Diagnostic {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*pb.Diagnostic, 0, len(ds))
	for _, d := range ds {
		if d != nil {
			out = append(out, diagToProto(d))
		}
	}
	return out
}

// diagsFromProto converts a list of diagnostics back.
func diagsFromProto(ps []*pb.Diagnostic) Diagnostics {
	if len(ps) == 0 {
		return nil
	}
	out := make(Diagnostics, len(ps))
	for i, p := range ps {
		out[i] = diagFromProto(p)
	}
	return out
}

// errToProto turns a connector's error into the diagnostics of a response.
func errToProto(err error) []*pb.Diagnostic {
	return diagsToProto(AsDiagnostics(err))
}

// specToProto converts a spec.
func specToProto(s Spec) *pb.GetSpecResponse {
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

// specFromProto converts a spec back.
func specFromProto(p *pb.GetSpecResponse) Spec {
	c := p.GetCapabilities()
	s := Spec{
		Name:            p.GetName(),
		Version:         p.GetVersion(),
		ProtocolVersion: int(p.GetProtocolVersion()),
		DisplayName:     p.GetDisplayName(),
		Description:     p.GetDescription(),
		Capabilities: Capabilities{
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

// schemaToProto converts a schema. A kind outside schema.Kinds is an error
// naming the entity and field.
func schemaToProto(s *schema.Schema) (*pb.Schema, error) {
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

// schemaFromProto converts a schema back. An unspecified or unknown kind is
// an error naming the entity and field.
func schemaFromProto(p *pb.Schema) (*schema.Schema, error) {
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

// changesToProto normalizes and converts the changes of a batch to the
// generated types. The wire uses encodeChangesResponse; this and
// changesFromProto are its reference in tests.
func changesToProto(cs []Change) ([]*pb.Change, error) {
	out := make([]*pb.Change, len(cs))
	for i := range cs {
		if err := cs[i].Record.Normalize(); err != nil {
			return nil, err
		}
		r, err := recordToProto(&cs[i].Record)
		if err != nil {
			return nil, err
		}
		op := pb.Change_OPERATION_UPSERT
		switch cs[i].Op {
		case Upsert:
		case Delete:
			op = pb.Change_OPERATION_DELETE
		default:
			return nil, fmt.Errorf("change of record %q: invalid operation %s", cs[i].Record.ID, cs[i].Op)
		}
		out[i] = &pb.Change{Operation: op, Record: r}
	}
	return out, nil
}

func changesFromProto(ps []*pb.Change) ([]Change, error) {
	out := make([]Change, len(ps))
	for i, p := range ps {
		r, err := recordFromProto(p.GetRecord())
		if err != nil {
			return nil, err
		}
		var op Operation
		switch p.GetOperation() {
		case pb.Change_OPERATION_UPSERT:
			op = Upsert
		case pb.Change_OPERATION_DELETE:
			op = Delete
		default:
			return nil, fmt.Errorf("change of record %q: invalid operation %s", r.ID, p.GetOperation())
		}
		out[i] = Change{Op: op, Record: r}
	}
	return out, nil
}

var statusToProto = map[Status]pb.WriteOutcome_Status{
	Created:   pb.WriteOutcome_STATUS_CREATED,
	Updated:   pb.WriteOutcome_STATUS_UPDATED,
	Unchanged: pb.WriteOutcome_STATUS_UNCHANGED,
	Deleted:   pb.WriteOutcome_STATUS_DELETED,
	Rejected:  pb.WriteOutcome_STATUS_REJECTED,
}

// writeBatchToProto normalizes and converts a write batch to the generated
// types. The wire uses encodeWriteRequest; this is its reference in tests.
func writeBatchToProto(b WriteBatch) (*pb.WriteRequest, error) {
	req := &pb.WriteRequest{Entity: b.Entity, Operations: make([]*pb.WriteOperation, len(b.Ops))}
	for i := range b.Ops {
		op := &b.Ops[i]
		var action pb.WriteOperation_Action
		switch op.Action {
		case ActionUpsert:
			action = pb.WriteOperation_ACTION_UPSERT
		case ActionDelete:
			action = pb.WriteOperation_ACTION_DELETE
		default:
			return nil, fmt.Errorf("write op %d (key %q): invalid action %d", i, op.IdempotencyKey, op.Action)
		}
		if err := op.Record.Normalize(); err != nil {
			return nil, fmt.Errorf("write op %d: %w", i, err)
		}
		r, err := recordToProto(&op.Record)
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

// writeBatchFromProto converts a generated WriteRequest back; the reference
// for fastWriteRequest in tests.
func writeBatchFromProto(p *pb.WriteRequest) (WriteBatch, error) {
	b := WriteBatch{Entity: p.GetEntity(), Ops: make([]WriteOp, len(p.GetOperations()))}
	for i, o := range p.GetOperations() {
		var action Action
		switch o.GetAction() {
		case pb.WriteOperation_ACTION_UPSERT:
			action = ActionUpsert
		case pb.WriteOperation_ACTION_DELETE:
			action = ActionDelete
		default:
			return b, fmt.Errorf("write op %d (key %q): invalid action %s", i, o.GetIdempotencyKey(), o.GetAction())
		}
		r, err := recordFromProto(o.GetRecord())
		if err != nil {
			return b, fmt.Errorf("write op %d: %w", i, err)
		}
		b.Ops[i] = WriteOp{
			Action:         action,
			IdempotencyKey: o.GetIdempotencyKey(),
			TargetID:       o.GetTargetId(),
			Partition:      o.GetPartition(),
			Record:         r,
		}
	}
	return b, nil
}

func outcomesToProto(os []WriteOutcome) ([]*pb.WriteOutcome, error) {
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
			Diagnostics:    diagsToProto(o.Diagnostics),
		}
		if o.Stored != nil {
			if err := o.Stored.Normalize(); err != nil {
				return nil, fmt.Errorf("outcome %d stored record: %w", i, err)
			}
			r, err := recordToProto(o.Stored)
			if err != nil {
				return nil, fmt.Errorf("outcome %d stored record: %w", i, err)
			}
			p.Stored = r
		}
		out[i] = p
	}
	return out, nil
}

func outcomesFromProto(ps []*pb.WriteOutcome) ([]WriteOutcome, error) {
	out := make([]WriteOutcome, len(ps))
	for i, p := range ps {
		var st Status
		for s, ps := range statusToProto {
			if ps == p.GetStatus() {
				st = s
			}
		}
		if st == 0 {
			return nil, fmt.Errorf("outcome %d (key %q): invalid status %s", i, p.GetIdempotencyKey(), p.GetStatus())
		}
		o := WriteOutcome{
			IdempotencyKey: p.GetIdempotencyKey(),
			Status:         st,
			TargetID:       p.GetTargetId(),
			Version:        p.GetVersion(),
			Diagnostics:    diagsFromProto(p.GetDiagnostics()),
		}
		if p.GetStored() != nil {
			r, err := recordFromProto(p.GetStored())
			if err != nil {
				return nil, fmt.Errorf("outcome %d stored record: %w", i, err)
			}
			o.Stored = &r
		}
		out[i] = o
	}
	return out, nil
}
