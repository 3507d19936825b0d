package sagecrmtest

import (
	"strings"
)

// colType is a column's type as $prototypes reports it.
type colType int

const (
	tString colType = iota
	tInt
	tDecimal
	tDateTime
	tChoice
)

// column is one field of an entity. Name is the metadata-style casing
// ("Pers_FirstName"); input is matched case-insensitively (reference
// crm-api-facts.md B4 "Field name casing": CRM column names are
// case-insensitive).
type column struct {
	Name      string
	Title     string
	Type      colType
	Mandatory bool
	ReadOnly  bool
	Choices   []string
}

// entity is one REST resource of the emulator.
type entity struct {
	// Resource is the lower-case resource name (crm-api-facts.md B3:
	// "Resource names are lower-case entity names").
	Resource string
	Title    string
	// Prefix is the column prefix of the system columns ("pers").
	Prefix string
	// IDCol is the lower-case id column.
	IDCol string
	// ReadOnly resources answer 405 to writes (users, C2 "users (read-only)").
	ReadOnly bool
	cols     []column
	byLower  map[string]*column
	title    func(row) string
}

func (e *entity) col(name string) (*column, bool) {
	c, ok := e.byLower[strings.ToLower(name)]
	return c, ok
}

// Entity numbers used by the email, phone and address link fields
// (crm-api-facts.md B7 EmailLink: "elink_entityid (5 = Company, 13 = Person)").
const (
	entityCompany = 5
	entityPerson  = 13
)

// choice lists (crm-api-facts.md B7 Communication and C2 "Communication
// semantics"; translation-driven drop-downs in the product, fixed here).
var (
	commTypes      = []string{"Appointment", "Task"}
	commActions    = []string{"Meeting", "ToDo", "PhoneOut", "PhoneIn", "EmailOut", "EmailIn", "LetterOut", "LetterIn", "Vacation", "Demo"}
	commStatuses   = []string{"Pending", "In Progress", "Complete", "Cancelled"}
	commPriorities = []string{"Low", "Normal", "High"}
	linkTypesEmail = []string{"Business", "Private"}
	linkTypesPhone = []string{"Business", "Mobile", "Home", "Fax"}
	linkTypesAddr  = []string{"Business", "Home", "Shipping", "Billing"}
	companyTypes   = []string{"Customer", "Prospect", "Supplier", "Competitor", "Partner"}
	yesFlag        = []string{"Y"}
)

func c(name, title string, t colType) column { return column{Name: name, Title: title, Type: t} }

func mandatory(col column) column { col.Mandatory = true; return col }

func choice(name, title string, values []string) column {
	return column{Name: name, Title: title, Type: tChoice, Choices: values}
}

// newEntities returns the emulator's entities. Field lists follow
// crm-api-facts.md B7 (Person, Company, Email, Phone, Address,
// Communication, Comm_Link) and C2 "Entities"; the system columns are
// appended by finish (B5 "System columns are maintained automatically").
func newEntities() map[string]*entity {
	str := func(r row, k string) string { s, _ := r[k].(string); return s }
	es := []*entity{
		{Resource: "person", Title: "Person", Prefix: "Pers", IDCol: "pers_personid", cols: []column{
			c("Pers_Salutation", "Salutation", tString),
			c("Pers_FirstName", "First Name", tString),
			c("Pers_MiddleName", "Middle Name", tString),
			// pers_lastname mandatory: C2 POST "pers_lastname⚠".
			mandatory(c("Pers_LastName", "Last Name", tString)),
			c("Pers_Suffix", "Suffix", tString),
			c("Pers_Title", "Job Title", tString),
			c("Pers_Department", "Department", tString),
			c("Pers_WebSite", "Web Site", tString),
			c("Pers_CompanyId", "Company", tInt),
			c("Pers_PrimaryAddressId", "Primary Address", tInt),
			c("Pers_PrimaryUserId", "Account Manager", tInt),
		}, title: func(r row) string { return strings.TrimSpace(str(r, "pers_firstname") + " " + str(r, "pers_lastname")) }},
		{Resource: "company", Title: "Company", Prefix: "Comp", IDCol: "comp_companyid", cols: []column{
			mandatory(c("Comp_Name", "Company Name", tString)),
			choice("Comp_Type", "Type", companyTypes),
			c("Comp_Status", "Status", tString),
			c("Comp_WebSite", "Web Site", tString),
			c("Comp_PrimaryPersonId", "Primary Person", tInt),
			c("Comp_PrimaryAddressId", "Primary Address", tInt),
		}, title: func(r row) string { return str(r, "comp_name") }},
		{Resource: "address", Title: "Address", Prefix: "Addr", IDCol: "addr_addressid", cols: []column{
			c("Addr_Address1", "Address 1", tString), c("Addr_Address2", "Address 2", tString),
			c("Addr_Address3", "Address 3", tString), c("Addr_Address4", "Address 4", tString),
			c("Addr_City", "City", tString), c("Addr_State", "State", tString),
			c("Addr_PostCode", "Zip Code", tString), c("Addr_Country", "Country", tString),
			// Address_Link fields (B7 "Linked via Address_Link").
			c("AdLi_PersonId", "Person", tInt), c("AdLi_CompanyId", "Company", tInt),
			choice("AdLi_Type", "Type", linkTypesAddr),
		}, title: func(r row) string { return str(r, "addr_address1") }},
		{Resource: "email", Title: "Email", Prefix: "Emai", IDCol: "emai_emailid", cols: []column{
			mandatory(c("Emai_EmailAddress", "E-mail Address", tString)),
			// EmailLink fields exposed on the email resource (C2: "email→emai_
			// (+elink_* link fields ...)").
			mandatory(c("ELink_EntityId", "Entity", tInt)),
			mandatory(c("ELink_RecordId", "Record", tInt)),
			choice("ELink_Type", "Type", linkTypesEmail),
		}, title: func(r row) string { return str(r, "emai_emailaddress") }},
		{Resource: "phone", Title: "Phone", Prefix: "Phon", IDCol: "phon_phoneid", cols: []column{
			c("Phon_CountryCode", "Country Code", tString),
			c("Phon_AreaCode", "Area Code", tString),
			mandatory(c("Phon_Number", "Number", tString)),
			mandatory(c("PLink_EntityId", "Entity", tInt)),
			mandatory(c("PLink_RecordId", "Record", tInt)),
			choice("PLink_Type", "Type", linkTypesPhone),
		}, title: func(r row) string { return str(r, "phon_number") }},
		{Resource: "communication", Title: "Communication", Prefix: "Comm", IDCol: "comm_communicationid", cols: []column{
			mandatory(choice("Comm_Type", "Type", commTypes)),
			// C2 POST: "comm_action/comm_datetime⚠" mandatory.
			mandatory(choice("Comm_Action", "Action", commActions)),
			choice("Comm_Status", "Status", commStatuses),
			choice("Comm_Priority", "Priority", commPriorities),
			mandatory(c("Comm_DateTime", "Date/Time", tDateTime)),
			c("Comm_ToDateTime", "End Date/Time", tDateTime),
			c("Comm_Subject", "Subject", tString),
			c("Comm_Note", "Details", tString),
			c("Comm_Location", "Location", tString),
			choice("Comm_Private", "Private", yesFlag),
			choice("Comm_IsAllDayEvent", "All Day", yesFlag),
			c("Comm_NotifyTime", "Reminder", tDateTime),
			c("Comm_PercentComplete", "Percent Complete", tDecimal),
			c("Comm_CompletedTime", "Completed", tDateTime),
			c("Comm_UserId", "User", tInt),
			c("Comm_Organizer", "Organizer", tString),
			c("Comm_OutlookEntryID", "Outlook Entry ID", tString),
		}, title: func(r row) string { return str(r, "comm_subject") }},
		{Resource: "comm_link", Title: "Comm_Link", Prefix: "CmLi", IDCol: "cmli_comm_linkid", cols: []column{
			mandatory(c("CmLi_Comm_CommunicationId", "Communication", tInt)),
			c("CmLi_Comm_UserId", "User", tInt),
			c("CmLi_Comm_PersonId", "Person", tInt),
			c("CmLi_Comm_CompanyId", "Company", tInt),
			c("CmLi_Comm_LeadId", "Lead", tInt),
			// cmli_status: 0 none, 2 tentative, 3 accepted, 4 declined, 6 organizer (B7).
			c("CmLi_Status", "Status", tInt),
			choice("CmLi_IsExternalAttendee", "External", yesFlag),
			c("CmLi_Recipient", "Recipient", tString),
		}, title: func(r row) string { return "" }},
		{Resource: "users", Title: "User", Prefix: "User", IDCol: "user_userid", ReadOnly: true, cols: []column{
			mandatory(c("User_Logon", "Logon", tString)),
			c("User_FirstName", "First Name", tString),
			mandatory(c("User_LastName", "Last Name", tString)),
			c("User_EmailAddress", "E-mail", tString),
		}, title: func(r row) string { return str(r, "user_logon") }},
	}
	out := make(map[string]*entity, len(es))
	for _, e := range es {
		e.finish()
		out[e.Resource] = e
	}
	return out
}

// finish prepends the id column, appends the system columns and builds the
// case-insensitive index.
func (e *entity) finish() {
	idName := map[string]string{
		"person": "Pers_PersonId", "company": "Comp_CompanyId", "address": "Addr_AddressId",
		"email": "Emai_EmailId", "phone": "Phon_PhoneId", "communication": "Comm_CommunicationId",
		"comm_link": "CmLi_Comm_LinkId", "users": "User_UserId",
	}[e.Resource]
	cols := []column{{Name: idName, Title: "ID", Type: tInt, ReadOnly: true}}
	cols = append(cols, e.cols...)
	sys := []column{
		{Name: e.Prefix + "_CreatedBy", Title: "Created By", Type: tInt, ReadOnly: true},
		{Name: e.Prefix + "_CreatedDate", Title: "Created Date", Type: tDateTime, ReadOnly: true},
		{Name: e.Prefix + "_UpdatedBy", Title: "Updated By", Type: tInt, ReadOnly: true},
		{Name: e.Prefix + "_UpdatedDate", Title: "Updated Date", Type: tDateTime, ReadOnly: true},
	}
	e.cols = append(cols, sys...)
	e.byLower = make(map[string]*column, len(e.cols))
	for i := range e.cols {
		e.byLower[strings.ToLower(e.cols[i].Name)] = &e.cols[i]
	}
}

func (e *entity) updatedCol() string { return strings.ToLower(e.Prefix) + "_updateddate" }
func (e *entity) createdCol() string { return strings.ToLower(e.Prefix) + "_createddate" }
func (e *entity) updatedByCol() string {
	return strings.ToLower(e.Prefix) + "_updatedby"
}
func (e *entity) createdByCol() string { return strings.ToLower(e.Prefix) + "_createdby" }

// row is one stored record: lower-case column name → int64, float64,
// string, time.Time (UTC, whole seconds) or nil.
type row map[string]any

func (r row) clone() row {
	out := make(row, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}
