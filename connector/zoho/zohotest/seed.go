package zohotest

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// toInput converts Go values to the decoded-JSON form a request body has.
func toInput(fields map[string]any) (map[string]any, error) {
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, fmt.Errorf("zohotest: encoding record: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("zohotest: decoding record: %w", err)
	}
	return in, nil
}

// RecordError is a record refused by the emulator's validation, with the
// code and details the API would answer.
type RecordError struct {
	Code    string
	Details map[string]any
}

func (e *RecordError) Error() string { return fmt.Sprintf("zohotest: %s %v", e.Code, e.Details) }

func (s *Server) module(dc, name string) (*org, *moduleDef, error) {
	o := s.dc(dc).org
	m := o.module(name)
	if m == nil {
		return nil, nil, fmt.Errorf("zohotest: no module %q", name)
	}
	return o, m, nil
}

// Create stores a record in a module of a data centre ("" means the
// first), validated as an insert is, without counting a call or credits.
// Fields use the API's JSON shapes (lookups as {"id": ...}, date-times as
// strings with an offset). It returns the new id.
func (s *Server) Create(dc, module string, fields map[string]any) (string, error) {
	o, m, err := s.module(dc, module)
	if err != nil {
		return "", err
	}
	in, err := toInput(fields)
	if err != nil {
		return "", err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	res, e := o.writeOneLocked(m, in, 0, "insert", "", nil)
	if e != nil {
		return "", &RecordError{Code: e.code, Details: e.details}
	}
	return res["details"].(map[string]any)["id"].(string), nil
}

// Update changes the given fields of a record, validated as an update is;
// it bumps Modified_Time.
func (s *Server) Update(dc, module, id string, fields map[string]any) error {
	o, m, err := s.module(dc, module)
	if err != nil {
		return err
	}
	in, err := toInput(fields)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, e := o.writeOneLocked(m, in, 0, "update", id, nil); e != nil {
		return &RecordError{Code: e.code, Details: e.details}
	}
	return nil
}

// Delete moves a record to the recycle bin, as DELETE does.
func (s *Server) Delete(dc, module, id string) error {
	o, m, err := s.module(dc, module)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.recs[m.api][id]
	if !ok {
		return fmt.Errorf("zohotest: no %s record %q", m.api, id)
	}
	now := o.stampLocked()
	delete(o.recs[m.api], id)
	o.indexLocked(m, r, false)
	o.deleted[m.api] = append(o.deleted[m.api], &deletedRecord{id: id, display: o.displayNameLocked(m, r), deleted: now, createdBy: r.createdBy, deletedBy: o.users[0]})
	return nil
}

// Get returns a record as a single-record GET renders it.
func (s *Server) Get(dc, module, id string) (map[string]any, bool) {
	o, m, err := s.module(dc, module)
	if err != nil {
		return nil, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.recs[m.api][id]
	if !ok {
		return nil, false
	}
	return o.renderLocked(m, r, nil), true
}

// Count returns the number of live records of a module.
func (s *Server) Count(dc, module string) int {
	o, m, err := s.module(dc, module)
	if err != nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.recs[m.api])
}

// UserID returns the id of the org's n-th user (0 is the integration user
// tokens act as), for Owner and participants of type user.
func (s *Server) UserID(dc string, n int) string {
	return s.dc(dc).org.users[n].id
}

// OrgID is the org id of a data centre, for the client-credentials soid.
func (s *Server) OrgID(dc string) string { return s.dc(dc).org.orgID }
