package zohotest

import (
	"fmt"
	"strings"
)

// fieldDef is one field of the fixture metadata. The fixtures describe the
// standard layouts of Contacts, Accounts, Leads, Events (Meetings), Tasks and
// Calls with the field names, data types, mandatory fields and picklists of
// crm-api-facts.md §A3.3 (mandatory fields) and §A4 (fields per module); the
// JSON shapes they are served in are those of §A5.
type fieldDef struct {
	api      string
	label    string
	typ      string // Zoho data_type (§A5)
	length   int
	mand     bool // system_mandatory
	layout   bool // required by the layout only (§A5: layout-level required)
	readOnly bool
	unique   bool
	values   []string // picklist values
	lookup   string   // lookup module api_name
	custom   bool
}

// moduleDef is one module of the fixtures.
type moduleDef struct {
	api, singular, plural string
	id                    string
	fields                []fieldDef
	// upsert lists the system duplicate-check fields (§A3.5); nil means the
	// module does not support upsert (§A3.5: not Tasks, Events, Calls).
	upsert []string
	// nameField is the field whose value names a record in a lookup
	// ({"name","id"}, §A3.1) and in /deleted display_name (§A3.8).
	nameField string
}

func systemFields() []fieldDef {
	return []fieldDef{
		{api: "Owner", label: "Owner", typ: "ownerlookup"},
		{api: "Created_Time", label: "Created Time", typ: "datetime", readOnly: true},
		{api: "Modified_Time", label: "Modified Time", typ: "datetime", readOnly: true},
		{api: "Created_By", label: "Created By", typ: "userlookup", readOnly: true},
		{api: "Modified_By", label: "Modified By", typ: "userlookup", readOnly: true},
	}
}

func addressFields(prefix, label string, zip string) []fieldDef {
	return []fieldDef{
		{api: prefix + "_Street", label: label + " Street", typ: "text", length: 250},
		{api: prefix + "_City", label: label + " City", typ: "text", length: 100},
		{api: prefix + "_State", label: label + " State", typ: "text", length: 100},
		{api: prefix + "_" + zip, label: label + " Zip", typ: "text", length: 30},
		{api: prefix + "_Country", label: label + " Country", typ: "text", length: 100},
	}
}

var (
	leadSources = []string{"Advertisement", "Cold Call", "Employee Referral", "External Referral", "Online Store", "Partner", "Public Relations", "Sales Email Alias", "Seminar Partner", "Internal Seminar", "Trade Show", "Web Download", "Web Research", "Chat"}
	industries  = []string{"ASP (Application Service Provider)", "Data/Telecom OEM", "ERP (Enterprise Resource Planning)", "Government/Military", "Large Enterprise", "ManagementISV", "MSP (Management Service Provider)", "Network Equipment Enterprise", "Non-management ISV", "Optical Networking", "Service Provider", "Small/Medium Enterprise", "Storage Equipment", "Storage Service Provider", "Systems Integrator", "Wireless Industry"}
	// seModules are the values $se_module may take for What_Id (§A4 Events).
	seModules = []string{"Accounts", "Deals", "Products", "Quotes", "Sales_Orders", "Purchase_Orders", "Invoices", "Campaigns", "Vendors", "Cases", "Leads"}
)

// fixtureModules returns the modules the emulator serves, in the order
// /settings/modules lists them.
func fixtureModules() []*moduleDef {
	contacts := &moduleDef{api: "Contacts", singular: "Contact", plural: "Contacts", nameField: "Full_Name", upsert: []string{"Email"}}
	contacts.fields = append(systemFields(),
		fieldDef{api: "Salutation", label: "Salutation", typ: "picklist", values: []string{"Mr.", "Mrs.", "Ms.", "Dr.", "Prof."}},
		fieldDef{api: "First_Name", label: "First Name", typ: "text", length: 40},
		fieldDef{api: "Last_Name", label: "Last Name", typ: "text", length: 80, mand: true},
		fieldDef{api: "Full_Name", label: "Full Name", typ: "text", readOnly: true},
		// Email is unique in the fixture so DUPLICATE_DATA (§A3.3) can be
		// exercised; UNCONFIRMED whether a fresh org marks it unique.
		fieldDef{api: "Email", label: "Email", typ: "email", unique: true},
		fieldDef{api: "Secondary_Email", label: "Secondary Email", typ: "email"},
		fieldDef{api: "Phone", label: "Phone", typ: "phone"},
		fieldDef{api: "Mobile", label: "Mobile", typ: "phone"},
		fieldDef{api: "Home_Phone", label: "Home Phone", typ: "phone"},
		fieldDef{api: "Other_Phone", label: "Other Phone", typ: "phone"},
		fieldDef{api: "Asst_Phone", label: "Asst Phone", typ: "phone"},
		fieldDef{api: "Fax", label: "Fax", typ: "phone"},
		fieldDef{api: "Title", label: "Title", typ: "text", length: 100},
		fieldDef{api: "Department", label: "Department", typ: "text", length: 100},
		fieldDef{api: "Date_of_Birth", label: "Date of Birth", typ: "date"},
		fieldDef{api: "Account_Name", label: "Account Name", typ: "lookup", lookup: "Accounts"},
		fieldDef{api: "Lead_Source", label: "Lead Source", typ: "picklist", values: leadSources},
		fieldDef{api: "Description", label: "Description", typ: "textarea", length: 32000},
		fieldDef{api: "Email_Opt_Out", label: "Email Opt Out", typ: "boolean"},
	)
	contacts.fields = append(contacts.fields, addressFields("Mailing", "Mailing", "Zip")...)
	contacts.fields = append(contacts.fields, addressFields("Other", "Other", "Zip")...)

	accounts := &moduleDef{api: "Accounts", singular: "Account", plural: "Accounts", nameField: "Account_Name", upsert: []string{"Account_Name"}}
	accounts.fields = append(systemFields(),
		fieldDef{api: "Account_Name", label: "Account Name", typ: "text", length: 200, mand: true},
		fieldDef{api: "Account_Number", label: "Account Number", typ: "text", length: 40},
		fieldDef{api: "Account_Type", label: "Account Type", typ: "picklist", values: []string{"Analyst", "Competitor", "Customer", "Distributor", "Integrator", "Investor", "Other", "Partner", "Press", "Prospect", "Reseller", "Supplier", "Vendor"}},
		fieldDef{api: "Industry", label: "Industry", typ: "picklist", values: industries},
		fieldDef{api: "Phone", label: "Phone", typ: "phone"},
		fieldDef{api: "Fax", label: "Fax", typ: "phone"},
		fieldDef{api: "Website", label: "Website", typ: "website", length: 255},
		fieldDef{api: "Annual_Revenue", label: "Annual Revenue", typ: "currency"},
		fieldDef{api: "Employees", label: "Employees", typ: "integer"},
		fieldDef{api: "Parent_Account", label: "Parent Account", typ: "lookup", lookup: "Accounts"},
		fieldDef{api: "Description", label: "Description", typ: "textarea", length: 32000},
	)
	accounts.fields = append(accounts.fields, addressFields("Billing", "Billing", "Code")...)
	accounts.fields = append(accounts.fields, addressFields("Shipping", "Shipping", "Code")...)

	leads := &moduleDef{api: "Leads", singular: "Lead", plural: "Leads", nameField: "Full_Name", upsert: []string{"Email"}}
	leads.fields = append(systemFields(),
		fieldDef{api: "Salutation", label: "Salutation", typ: "picklist", values: []string{"Mr.", "Mrs.", "Ms.", "Dr.", "Prof."}},
		fieldDef{api: "First_Name", label: "First Name", typ: "text", length: 40},
		fieldDef{api: "Last_Name", label: "Last Name", typ: "text", length: 80, mand: true},
		fieldDef{api: "Full_Name", label: "Full Name", typ: "text", readOnly: true},
		// Company is required by the standard Leads layout, not by the
		// system: the case §A5 describes ("layout-level required").
		fieldDef{api: "Company", label: "Company", typ: "text", length: 200, layout: true},
		fieldDef{api: "Email", label: "Email", typ: "email", unique: true},
		fieldDef{api: "Phone", label: "Phone", typ: "phone"},
		fieldDef{api: "Mobile", label: "Mobile", typ: "phone"},
		fieldDef{api: "Title", label: "Title", typ: "text", length: 100},
		fieldDef{api: "Lead_Source", label: "Lead Source", typ: "picklist", values: leadSources},
		fieldDef{api: "Lead_Status", label: "Lead Status", typ: "picklist", values: []string{"Attempted to Contact", "Contact in Future", "Contacted", "Junk Lead", "Lost Lead", "Not Contacted", "Pre-Qualified", "Not Qualified"}},
		fieldDef{api: "Industry", label: "Industry", typ: "picklist", values: industries},
		fieldDef{api: "Annual_Revenue", label: "Annual Revenue", typ: "currency"},
		fieldDef{api: "No_of_Employees", label: "No. of Employees", typ: "integer"},
		fieldDef{api: "Street", label: "Street", typ: "text", length: 250},
		fieldDef{api: "City", label: "City", typ: "text", length: 100},
		fieldDef{api: "State", label: "State", typ: "text", length: 100},
		fieldDef{api: "Zip_Code", label: "Zip Code", typ: "text", length: 30},
		fieldDef{api: "Country", label: "Country", typ: "text", length: 100},
		fieldDef{api: "Description", label: "Description", typ: "textarea", length: 32000},
		fieldDef{api: "Email_Opt_Out", label: "Email Opt Out", typ: "boolean"},
	)

	// Events: api_name Events, labels Meetings (§A4).
	events := &moduleDef{api: "Events", singular: "Meeting", plural: "Meetings", nameField: "Event_Title"}
	events.fields = append(systemFields(),
		fieldDef{api: "Event_Title", label: "Title", typ: "text", length: 255, mand: true},
		fieldDef{api: "Start_DateTime", label: "From", typ: "datetime", mand: true},
		fieldDef{api: "End_DateTime", label: "To", typ: "datetime", mand: true},
		fieldDef{api: "All_day", label: "All day", typ: "boolean"},
		fieldDef{api: "Venue", label: "Location", typ: "text", length: 255},
		fieldDef{api: "Description", label: "Description", typ: "textarea", length: 32000},
		fieldDef{api: "Who_Id", label: "Contact Name", typ: "lookup", lookup: "Contacts"},
		fieldDef{api: "What_Id", label: "Related To", typ: "lookup", lookup: "se_module"},
		// data_type of Participants is not documented (§C1 item 10 ⚠);
		// "participants" is the emulator's choice.
		fieldDef{api: "Participants", label: "Participants", typ: "participants"},
		fieldDef{api: "Remind_At", label: "Reminder", typ: "multireminder"},
		fieldDef{api: "Recurring_Activity", label: "Repeat", typ: "RRULE"},
		fieldDef{api: "Check_In_Time", label: "Check-In Time", typ: "datetime", readOnly: true},
	)

	tasks := &moduleDef{api: "Tasks", singular: "Task", plural: "Tasks", nameField: "Subject"}
	tasks.fields = append(systemFields(),
		fieldDef{api: "Subject", label: "Subject", typ: "text", length: 255, mand: true},
		fieldDef{api: "Due_Date", label: "Due Date", typ: "date"},
		// Status and Priority picklists of the default layout (§A4 Tasks).
		fieldDef{api: "Status", label: "Status", typ: "picklist", values: []string{"Not Started", "Deferred", "In Progress", "Completed", "Waiting for input"}},
		fieldDef{api: "Priority", label: "Priority", typ: "picklist", values: []string{"High", "Highest", "Low", "Lowest", "Normal"}},
		fieldDef{api: "Description", label: "Description", typ: "textarea", length: 32000},
		fieldDef{api: "Who_Id", label: "Contact Name", typ: "lookup", lookup: "Contacts"},
		fieldDef{api: "What_Id", label: "Related To", typ: "lookup", lookup: "se_module"},
		fieldDef{api: "Recurring_Activity", label: "Repeat", typ: "RRULE"},
		fieldDef{api: "Remind_At", label: "Reminder", typ: "ALARM"},
		fieldDef{api: "Send_Notification_Email", label: "Send Notification Email", typ: "boolean"},
		fieldDef{api: "Closed_Time", label: "Closed Time", typ: "datetime", readOnly: true},
	)

	calls := &moduleDef{api: "Calls", singular: "Call", plural: "Calls", nameField: "Subject"}
	calls.fields = append(systemFields(),
		fieldDef{api: "Subject", label: "Subject", typ: "text", length: 255, mand: true},
		fieldDef{api: "Call_Type", label: "Call Type", typ: "picklist", mand: true, values: []string{"Inbound", "Outbound", "Missed"}},
		fieldDef{api: "Call_Start_Time", label: "Call Start Time", typ: "datetime", mand: true},
		// "mm:ss"; mandatory for completed calls (§A3.3), enforced in
		// validation rather than as system_mandatory.
		fieldDef{api: "Call_Duration", label: "Call Duration", typ: "text", length: 10},
		fieldDef{api: "Call_Purpose", label: "Call Purpose", typ: "picklist", values: []string{"Prospecting", "Administrative", "Negotiation", "Demo", "Project", "Desk"}},
		fieldDef{api: "Call_Result", label: "Call Result", typ: "picklist", values: []string{"Interested", "Not interested", "No response", "Busy", "Requested more info", "Requested call back", "Invalid number"}},
		fieldDef{api: "Description", label: "Description", typ: "textarea", length: 32000},
		fieldDef{api: "Who_Id", label: "Contact Name", typ: "lookup", lookup: "Contacts"},
		fieldDef{api: "What_Id", label: "Related To", typ: "lookup", lookup: "se_module"},
	)
	mods := []*moduleDef{leads, contacts, accounts, tasks, events, calls}
	for i, m := range mods {
		m.id = fmt.Sprintf("48768760000000%05d", 2175+i)
	}
	return mods
}

func (m *moduleDef) field(api string) *fieldDef {
	for i := range m.fields {
		if strings.EqualFold(m.fields[i].api, api) {
			return &m.fields[i]
		}
	}
	return nil
}

func (f *fieldDef) required() bool { return f.mand || f.layout }

func jsonType(typ string) string {
	switch typ {
	case "integer", "bigint":
		return "integer"
	case "double", "currency", "percent":
		return "double"
	case "boolean":
		return "boolean"
	case "lookup", "ownerlookup", "userlookup", "RRULE", "ALARM":
		return "jsonobject"
	case "participants", "multireminder", "multiselectpicklist":
		return "jsonarray"
	}
	return "string"
}

// moduleJSON renders a module in the /settings/modules shape (§A5).
func (m *moduleDef) moduleJSON() map[string]any {
	return map[string]any{
		"api_name": m.api, "module_name": m.api, "singular_label": m.singular, "plural_label": m.plural,
		"api_supported": true, "id": m.id, "generated_type": "default",
		"creatable": true, "editable": true, "deletable": true, "viewable": true,
	}
}

// fieldsJSON renders the fields in the /settings/fields shape (§A5).
func (m *moduleDef) fieldsJSON() []any {
	out := make([]any, 0, len(m.fields))
	for i, f := range m.fields {
		id := fmt.Sprintf("%s%03d", m.id[:16], i)
		pick := []any{}
		for j, v := range f.values {
			pick = append(pick, map[string]any{"display_value": v, "actual_value": v, "reference_value": v,
				"sequence_number": j + 1, "id": fmt.Sprintf("%s%02d", id, j), "type": "used", "colour_code": nil, "expunged": false, "maps": []any{}})
		}
		lookup := map[string]any{}
		if f.lookup != "" {
			lookup = map[string]any{"module": map[string]any{"api_name": f.lookup, "id": ""}, "display_label": f.label, "api_name": f.api, "id": id}
		}
		var length any
		if f.length > 0 {
			length = f.length
		}
		unique := map[string]any{}
		if f.unique {
			unique = map[string]any{"casesensitive": "false"}
		}
		out = append(out, map[string]any{
			"api_name": f.api, "id": id, "field_label": f.label, "display_label": f.label,
			"data_type": f.typ, "json_type": jsonType(f.typ), "length": length,
			"system_mandatory": f.mand, "read_only": f.readOnly, "field_read_only": f.readOnly,
			"custom_field": f.custom, "visible": true, "unique": unique, "default_value": nil,
			"pick_list_values": pick, "lookup": lookup,
			"operation_type": map[string]any{"web_update": !f.readOnly, "api_create": !f.readOnly, "web_create": !f.readOnly, "api_update": !f.readOnly},
			"created_source": "default", "sortable": true,
		})
	}
	return out
}

// layoutsJSON renders the single Standard layout (§A5 layouts).
func (m *moduleDef) layoutsJSON() []any {
	var fields []any
	for i, f := range m.fields {
		fields = append(fields, map[string]any{"api_name": f.api, "id": fmt.Sprintf("%s%03d", m.id[:16], i), "required": f.required(), "data_type": f.typ})
	}
	return []any{map[string]any{
		"id": m.id[:16] + "900", "name": "Standard", "status": "active", "visible": true,
		"profiles": []any{map[string]any{"name": "Administrator", "id": "4876876000000026011", "default": true}},
		"sections": []any{map[string]any{"display_label": m.singular + " Information", "api_name": m.singular + " Information", "sequence_number": 1, "fields": fields}},
	}}
}
