package graphtest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// collection describes contacts, To Do tasks and messages: items in
// folders (lists) with CRUD and a per-folder delta without a window
// (facts §2).
type collection struct {
	kind      string // contacts, tasks, messages
	typeName  string // contact, todoTask, message
	writable  []string
	readOnly  []string
	items     func(*mailbox) map[string]*item
	defaults  func(s *Server, box *mailbox) map[string]any
	validate  func(data, body map[string]any, create bool) *Error
	finish    func(data map[string]any) // computed properties after a change
	immutable bool                      // Prefer IdType applies (Outlook items; not To Do)
	readPerms []string
	rwPerms   []string
}

var contactsColl = collection{
	kind: "contacts", typeName: "contact",
	writable: []string{"givenName", "surname", "middleName", "displayName", "nickName", "title", "jobTitle",
		"companyName", "department", "officeLocation", "emailAddresses", "businessPhones", "homePhones",
		"mobilePhone", "businessAddress", "homeAddress", "otherAddress", "birthday", "personalNotes",
		"categories", "fileAs", "initials", "imAddresses", "manager", "assistantName", "profession",
		"spouseName", "children", "generation", "businessHomePage", "yomiGivenName", "yomiSurname",
		"yomiCompanyName", extPropsKey},
	readOnly: []string{"id", "createdDateTime", "lastModifiedDateTime", "changeKey", "parentFolderId"},
	items:    func(b *mailbox) map[string]*item { return b.contacts },
	defaults: func(*Server, *mailbox) map[string]any {
		d := map[string]any{"categories": []any{}, "businessPhones": []any{}, "homePhones": []any{},
			"emailAddresses": []any{}, "imAddresses": []any{}, "children": []any{},
			"homeAddress": map[string]any{}, "businessAddress": map[string]any{}, "otherAddress": map[string]any{}}
		for _, k := range []string{"birthday", "fileAs", "displayName", "givenName", "initials", "middleName",
			"nickName", "surname", "title", "yomiGivenName", "yomiSurname", "yomiCompanyName", "generation",
			"jobTitle", "companyName", "department", "officeLocation", "profession", "businessHomePage",
			"assistantName", "manager", "mobilePhone", "spouseName", "personalNotes"} {
			d[k] = nil
		}
		return d
	},
	validate: validateContact,
	finish: func(d map[string]any) {
		if dn, _ := d["displayName"].(string); dn == "" {
			g, _ := d["givenName"].(string)
			sn, _ := d["surname"].(string)
			if name := strings.TrimSpace(g + " " + sn); name != "" {
				d["displayName"] = name
			}
		}
		if fa, _ := d["fileAs"].(string); fa == "" {
			d["fileAs"] = ""
		}
	},
	immutable: true,
	// contact-delta.md: Contacts.Read least, Contacts.ReadWrite (facts §2).
	readPerms: []string{"Contacts.Read", "Contacts.ReadWrite", "Contacts.Read.Shared", "Contacts.ReadWrite.Shared"},
	rwPerms:   []string{"Contacts.ReadWrite", "Contacts.ReadWrite.Shared"},
}

// validateContact checks the contact's typed properties.
func validateContact(d, body map[string]any, create bool) *Error {
	for k, v := range body {
		switch k {
		case extPropsKey:
			// Extended properties stamped on the contact (stamps.go).
			props, e := mergeExtendedProperties(d[k], v)
			if e != nil {
				return e
			}
			d[k] = props
		case "emailAddresses":
			list, ok := v.([]any)
			if !ok && v != nil {
				return badRequest("RequestBodyRead", "Property 'emailAddresses' must be a collection of microsoft.graph.emailAddress.")
			}
			for i, e := range list {
				em, _ := e.(map[string]any)
				addr, _ := lookupFold(em, "address").(string)
				if em == nil || (addr != "" && !strings.Contains(addr, "@")) {
					return badRequest("ErrorInvalidProperty", "emailAddresses[%d].address '%s' is not a valid e-mail address.", i, addr)
				}
			}
			d[k] = nonNilList(cloneValue(list).([]any))
		case "businessPhones", "homePhones", "categories", "imAddresses", "children":
			list, ok := v.([]any)
			if !ok && v != nil {
				return badRequest("RequestBodyRead", "Property '%s' must be a collection of strings.", k)
			}
			for _, e := range list {
				if _, ok := e.(string); !ok {
					return badRequest("RequestBodyRead", "Property '%s' must be a collection of strings.", k)
				}
			}
			d[k] = nonNilList(cloneValue(list).([]any))
		case "businessAddress", "homeAddress", "otherAddress":
			m, ok := v.(map[string]any)
			if !ok && v != nil {
				return badRequest("RequestBodyRead", "Property '%s' must be a microsoft.graph.physicalAddress object.", k)
			}
			for ak := range m {
				if !slices.Contains([]string{"street", "city", "state", "countryOrRegion", "postalCode"}, ak) {
					return badRequest("RequestBodyRead", "The property '%s' does not exist on type 'microsoft.graph.physicalAddress'.", ak)
				}
			}
			if m == nil {
				m = map[string]any{}
			}
			d[k] = cloneMap(m)
		case "birthday":
			if s, ok := v.(string); ok {
				if _, ok := parseQueryTime(s); !ok {
					return badRequest("RequestBodyRead", "Cannot convert the literal '%s' to the expected type 'Edm.DateTimeOffset'.", s)
				}
			} else if v != nil {
				return badRequest("RequestBodyRead", "Property 'birthday' must be an Edm.DateTimeOffset.")
			}
			d[k] = v
		default:
			if v != nil {
				if _, ok := v.(string); !ok {
					return badRequest("RequestBodyRead", "Property '%s' must be a string.", k)
				}
			}
			d[k] = v
		}
	}
	return nil
}

var tasksColl = collection{
	kind: "tasks", typeName: "todoTask",
	writable: []string{"title", "body", "importance", "status", "dueDateTime", "startDateTime", "completedDateTime",
		"reminderDateTime", "isReminderOn", "categories", "recurrence", linkedKey},
	readOnly: []string{"id", "createdDateTime", "lastModifiedDateTime", "bodyLastModifiedDateTime", "hasAttachments"},
	items:    func(b *mailbox) map[string]*item { return b.tasks },
	defaults: func(*Server, *mailbox) map[string]any {
		return map[string]any{"importance": "normal", "isReminderOn": false, "status": "notStarted", "title": "",
			"categories": []any{}, "hasAttachments": false, "body": map[string]any{"content": "", "contentType": "text"}}
	},
	validate: validateTask,
	// todotask-delta.md: application Tasks.ReadWrite.All / Tasks.Read.All,
	// delegated Tasks.ReadWrite / Tasks.Read (facts §2).
	readPerms: []string{"Tasks.Read.All", "Tasks.ReadWrite.All", "Tasks.Read", "Tasks.ReadWrite"},
	rwPerms:   []string{"Tasks.ReadWrite.All", "Tasks.ReadWrite"},
}

var taskStatus = []string{"notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"}

func validateTask(d, body map[string]any, create bool) *Error {
	for k, v := range body {
		switch k {
		case "title":
			s, ok := v.(string)
			if !ok || strings.TrimSpace(s) == "" {
				// UNCONFIRMED: a task needs a title.
				return badRequest("invalidRequest", "The title of a task must not be empty.")
			}
			d[k] = s
		case "importance":
			s, _ := v.(string)
			if !slices.Contains(enumValues["importance"], s) {
				return badRequest("RequestBodyRead", "Cannot convert the literal '%v' to the expected type 'microsoft.graph.importance'.", v)
			}
			d[k] = s
		case "status":
			s, _ := v.(string)
			if !slices.Contains(taskStatus, s) {
				return badRequest("RequestBodyRead", "Cannot convert the literal '%v' to the expected type 'microsoft.graph.taskStatus'.", v)
			}
			d[k] = s
		case "dueDateTime", "startDateTime", "completedDateTime", "reminderDateTime":
			if v == nil {
				delete(d, k)
				continue
			}
			t, tz, e := parseDTZ(v, k)
			if e != nil {
				return e
			}
			d[k] = dtz(t, tz)
		case "body":
			b, ok := v.(map[string]any)
			if !ok {
				return badRequest("RequestBodyRead", "Property 'body' must be a microsoft.graph.itemBody object.")
			}
			ct := strings.ToLower(fmt.Sprint(lookupFold(b, "contentType")))
			if ct != "html" {
				ct = "text"
			}
			content, _ := lookupFold(b, "content").(string)
			d[k] = map[string]any{"content": content, "contentType": ct}
		case "categories":
			list, _ := v.([]any)
			d[k] = nonNilList(cloneValue(list).([]any))
		case linkedKey:
			// Linked resources given with a new task (stamps.go).
			list, e := addLinkedResources(v, create)
			if e != nil {
				return e
			}
			d[k] = list
		case "isReminderOn":
			b, ok := v.(bool)
			if !ok {
				return badRequest("RequestBodyRead", "Property 'isReminderOn' must be a boolean.")
			}
			d[k] = b
		case "recurrence":
			if v == nil {
				delete(d, k)
				continue
			}
			rec, e := normalizeRecurrence(v, "UTC")
			if e != nil {
				return e
			}
			d[k] = rec
		}
	}
	if create {
		if t, _ := d["title"].(string); t == "" {
			return badRequest("invalidRequest", "The title of a task must not be empty.")
		}
	}
	return nil
}

var messagesColl = collection{
	kind: "messages", typeName: "message",
	writable: []string{"subject", "body", "from", "sender", "toRecipients", "ccRecipients", "bccRecipients",
		"receivedDateTime", "sentDateTime", "isRead", "importance", "categories", "internetMessageId",
		"conversationId", "hasAttachments", "isDraft", "replyTo", "flag"},
	readOnly: []string{"id", "createdDateTime", "lastModifiedDateTime", "changeKey", "parentFolderId", "bodyPreview", "webLink"},
	items:    func(b *mailbox) map[string]*item { return b.messages },
	defaults: func(*Server, *mailbox) map[string]any {
		return map[string]any{"subject": "", "isRead": false, "importance": "normal", "categories": []any{},
			"hasAttachments": false, "isDraft": false, "toRecipients": []any{}, "ccRecipients": []any{},
			"bccRecipients": []any{}, "replyTo": []any{}, "body": map[string]any{"contentType": "html", "content": ""}}
	},
	validate: func(d, body map[string]any, create bool) *Error {
		for k, v := range body {
			d[k] = cloneValue(v)
		}
		return nil
	},
	finish: func(d map[string]any) {
		// sender defaults to from, as for mail sent by the mailbox owner
		// itself (message.md: sender and from differ only for delegates).
		if d["sender"] == nil && d["from"] != nil {
			d["sender"] = cloneValue(d["from"])
		}
		b, _ := d["body"].(map[string]any)
		c, _ := b["content"].(string)
		d["bodyPreview"] = preview(c)
	},
	immutable: true,
	// message-delta.md: Mail.ReadBasic.All, Mail.Read, Mail.ReadWrite (facts §2).
	readPerms: []string{"Mail.ReadBasic.All", "Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"},
	rwPerms:   []string{"Mail.ReadWrite"},
}

// render renders an item of a simple collection.
func (co *collection) render(it *item, immutable bool) map[string]any {
	m := cloneMap(it.data)
	// Stamps (stamps.go) are not properties of a GET: extended properties
	// come back only through $expand ("The response does not include any
	// newly created extended properties", post-singlevalueextendedproperties.md),
	// linkedResources is a navigation property (UNCONFIRMED for GET).
	delete(m, extPropsKey)
	delete(m, linkedKey)
	im := immutable && co.immutable
	m["id"] = extID(it.id, im)
	m["createdDateTime"] = it.created.UTC().Format("2006-01-02T15:04:05.0000000Z")
	m["lastModifiedDateTime"] = it.modified.UTC().Format("2006-01-02T15:04:05.0000000Z")
	m["@odata.etag"] = `W/"` + it.changeKey + `"`
	if co.kind != "tasks" {
		m["changeKey"] = it.changeKey
		m["parentFolderId"] = extID(it.container, false)
	}
	return m
}

// create adds an item to a folder.
func (s *Server) createItem(co *collection, box *mailbox, folderID string, body map[string]any) (*item, *Error) {
	if e := checkProperties(body, co.typeName, co.writable, co.readOnly); e != nil {
		return nil, e
	}
	d := co.defaults(s, box)
	if e := co.validate(d, body, true); e != nil {
		return nil, e
	}
	if co.finish != nil {
		co.finish(d)
	}
	it := &item{id: s.newInternalID(), container: folderID, data: d}
	co.items(box)[it.id] = it
	s.touch(box, it)
	return it, nil
}

func (s *Server) patchItem(co *collection, box *mailbox, it *item, body map[string]any) *Error {
	if e := checkProperties(body, co.typeName, co.writable, co.readOnly); e != nil {
		return e
	}
	d := cloneMap(it.data)
	if e := co.validate(d, body, false); e != nil {
		return e
	}
	if co.finish != nil {
		co.finish(d)
	}
	it.data = d
	s.touch(box, it)
	return nil
}

func (s *Server) deleteItem(box *mailbox, it *item) {
	it.deleted = true
	s.touch(box, it)
}

// serveCollection serves a folder's items: list, create, delta, and one
// item's GET/PATCH/DELETE. rest starts after the folder (e.g. ["contacts",
// "delta"]). pathPrefix is the URL of the folder's item collection.
func (s *Server) serveCollection(c *call, co *collection, box *mailbox, folderID, pathPrefix string, rest []string) {
	m := c.r.Method
	n := len(rest)
	if m == http.MethodGet {
		if !c.requireMailbox(co.readPerms...) {
			return
		}
	} else if co.kind == "messages" {
		// The emulator keeps messages read-only for clients.
		c.methodNotAllowed()
		return
	} else if !c.requireMailbox(co.rwPerms...) {
		return
	}
	items := co.items(box)
	switch {
	case n == 1 && m == http.MethodGet:
		keep := func(*item) bool { return true }
		if f := c.query.Get("$filter"); f != "" {
			// Finding items by their stamps (stamps.go, itemFilter).
			pred, e := itemFilter(co.kind, f)
			if e != nil {
				c.failErr(e)
				return
			}
			keep = pred
		}
		var ids []string
		for id, it := range items {
			if it.container == folderID && !it.deleted && keep(it) {
				ids = append(ids, id)
			}
		}
		sortItems(ids, items, false)
		sel := withID(parseSelect(c.query.Get("$select")))
		var list []map[string]any
		for _, id := range ids {
			list = append(list, project(co.render(items[id], c.prefer.immutableID), sel, nil))
		}
		c.writePage(pathPrefix, list, 10, 1000, strings.TrimPrefix(pathPrefix, "/"), false)
	case n == 1 && m == http.MethodPost:
		body, ok := c.readBody()
		if !ok {
			return
		}
		it, e := s.createItem(co, box, folderID, body)
		if e != nil {
			c.failErr(e)
			return
		}
		out := co.render(it, c.prefer.immutableID)
		if lr, ok := it.data[linkedKey]; ok {
			// The 201 answer lists the new task's linked resources with
			// their ids (todotasklist-post-tasks.md, example response).
			out[linkedKey] = cloneValue(lr)
		}
		out["@odata.context"] = s.contextURL(strings.TrimPrefix(pathPrefix, "/") + "/$entity")
		c.writeJSON(http.StatusCreated, out)
	case n == 2 && rest[1] == "delta" && m == http.MethodGet:
		s.serveCollectionDelta(c, co, box, folderID, pathPrefix+"/delta")
	case n == 2:
		it := c.lookup(items, rest[1])
		if it == nil {
			return
		}
		if it.container != folderID {
			c.itemNotFound()
			return
		}
		switch m {
		case http.MethodGet:
			out := project(co.render(it, c.prefer.immutableID), withID(parseSelect(c.query.Get("$select"))), nil)
			out["@odata.context"] = s.contextURL(strings.TrimPrefix(pathPrefix, "/") + "/$entity")
			c.writeJSON(http.StatusOK, out)
		case http.MethodPatch:
			body, ok := c.readBody()
			if !ok {
				return
			}
			if e := s.patchItem(co, box, it, body); e != nil {
				c.failErr(e)
				return
			}
			out := co.render(it, c.prefer.immutableID)
			out["@odata.context"] = s.contextURL(strings.TrimPrefix(pathPrefix, "/") + "/$entity")
			c.writeJSON(http.StatusOK, out)
		case http.MethodDelete:
			s.deleteItem(box, it)
			c.noContent()
		default:
			c.methodNotAllowed()
		}
	default:
		c.notFoundOrMethod(n, 2)
	}
}

// serveCollectionDelta serves a per-folder delta (contact-delta.md,
// todotask-delta.md, message-delta.md; facts §2): $select supported,
// Prefer: odata.maxpagesize, deletions as @removed.
func (s *Server) serveCollectionDelta(c *call, co *collection, box *mailbox, folderID, path string) {
	for _, p := range []string{"$search", "$orderby"} {
		if c.query.Has(p) {
			c.fail(http.StatusBadRequest, "ErrorInvalidUrlQuery", fmt.Sprintf("The following parameters are not supported with change tracking over the '%s' resource: '%s'.", co.typeName, p))
			return
		}
	}
	sel := withID(parseSelect(c.query.Get("$select")))
	sp := deltaSpec{kind: co.kind, box: box, container: folderID, path: path,
		ctx: "Collection(" + co.typeName + ")", odataType: "#microsoft.graph." + co.typeName,
		items:   co.items,
		include: func(*item) bool { return true },
		render: func(it *item) map[string]any {
			m := project(co.render(it, c.prefer.immutableID), sel, nil)
			if co.kind == "messages" {
				m["@odata.type"] = "#microsoft.graph.message"
			}
			return m
		},
		defSize:      10, // OBSERVED default ≈10 (facts §1.1)
		immutableIDs: c.prefer.immutableID && co.immutable,
	}
	if !c.query.Has("$skiptoken") && !c.query.Has("$deltatoken") {
		sp.initial = url.Values{}
		if v := c.query.Get("$select"); v != "" {
			sp.initial.Set("$select", v)
		}
	}
	s.serveDelta(c, sp)
}

// findFolder resolves a folder id (either id form) or, for mail folders, a
// well-known name (inbox, sentitems, deleteditems).
func findFolder(list []*folder, key string) *folder {
	in := intID(key)
	for _, f := range list {
		if f.id == in || (f.wellKnown != "" && strings.EqualFold(f.wellKnown, key)) {
			return f
		}
	}
	return nil
}

// routeContacts serves /contacts[...] (the default folder) and
// /contactFolders[/{id}/contacts[...]].
func (s *Server) routeContacts(c *call, box *mailbox, userID string, rest []string) {
	if rest[0] == "contacts" {
		// /users/{id}/contacts/delta works on the default folder but is
		// undocumented (facts §2, UNCONFIRMED); the emulator serves it.
		s.serveCollection(c, &contactsColl, box, box.contactFolders[0].id, "/users/"+userID+"/contacts", rest)
		return
	}
	if !c.requireMailbox(contactsColl.readPerms...) {
		return
	}
	if len(rest) == 1 {
		switch c.r.Method {
		case http.MethodGet:
			var list []map[string]any
			for _, f := range box.contactFolders[1:] {
				list = append(list, map[string]any{"id": extID(f.id, false), "displayName": f.name,
					"parentFolderId": extID(box.contactFolders[0].id, false)})
			}
			c.writePage("/users/"+userID+"/contactFolders", list, 10, 1000, "users('"+userID+"')/contactFolders", false)
		case http.MethodPost:
			if !c.requireMailbox(contactsColl.rwPerms...) {
				return
			}
			body, ok := c.readBody()
			if !ok {
				return
			}
			name, _ := body["displayName"].(string)
			if name == "" {
				c.fail(http.StatusBadRequest, "ErrorInvalidRequest", "A contact folder needs a displayName.")
				return
			}
			for _, f := range box.contactFolders {
				if strings.EqualFold(f.name, name) {
					c.fail(http.StatusConflict, "ErrorFolderExists", "A folder with the specified name already exists.")
					return
				}
			}
			f := &folder{id: s.newInternalID(), name: name}
			box.contactFolders = append(box.contactFolders, f)
			c.writeJSON(http.StatusCreated, map[string]any{"@odata.context": s.contextURL("users('" + userID + "')/contactFolders/$entity"),
				"id": extID(f.id, false), "displayName": f.name, "parentFolderId": extID(box.contactFolders[0].id, false)})
		default:
			c.methodNotAllowed()
		}
		return
	}
	f := findFolder(box.contactFolders, rest[1])
	if f == nil {
		c.itemNotFound()
		return
	}
	if len(rest) == 2 {
		c.only(c.r.Method, http.MethodGet, func() {
			c.writeJSON(http.StatusOK, map[string]any{"@odata.context": s.contextURL("users('" + userID + "')/contactFolders/$entity"),
				"id": extID(f.id, false), "displayName": f.name})
		})
		return
	}
	if rest[2] != "contacts" {
		c.notFoundSegment(rest[2])
		return
	}
	s.serveCollection(c, &contactsColl, box, f.id, "/users/"+userID+"/contactFolders/"+rest[1]+"/contacts", rest[2:])
}

// routeTodo serves /todo/lists[/{id}[/tasks[...]]] (todotasklist.md,
// todotask-delta.md; facts §2).
func (s *Server) routeTodo(c *call, box *mailbox, userID string, rest []string) {
	if len(rest) < 2 || rest[1] != "lists" {
		c.notFoundSegment(rest[len(rest)-1])
		return
	}
	if !c.requireMailbox(tasksColl.readPerms...) {
		return
	}
	listJSON := func(f *folder) map[string]any {
		wk := f.wellKnown
		if wk == "" {
			wk = "none"
		}
		return map[string]any{"@odata.etag": `W/"` + f.id[:8] + `"`, "displayName": f.name, "isOwner": true,
			"isShared": false, "wellknownListName": wk, "id": extID(f.id, false)}
	}
	if len(rest) == 2 {
		switch c.r.Method {
		case http.MethodGet:
			var list []map[string]any
			for _, f := range box.lists {
				list = append(list, listJSON(f))
			}
			c.writePage("/users/"+userID+"/todo/lists", list, 100, 1000, "users('"+userID+"')/todo/lists", false)
		case http.MethodPost:
			if !c.requireMailbox(tasksColl.rwPerms...) {
				return
			}
			body, ok := c.readBody()
			if !ok {
				return
			}
			name, _ := body["displayName"].(string)
			if name == "" {
				c.fail(http.StatusBadRequest, "invalidRequest", "A list needs a displayName.")
				return
			}
			f := &folder{id: s.newInternalID(), name: name}
			box.lists = append(box.lists, f)
			out := listJSON(f)
			out["@odata.context"] = s.contextURL("users('" + userID + "')/todo/lists/$entity")
			c.writeJSON(http.StatusCreated, out)
		default:
			c.methodNotAllowed()
		}
		return
	}
	f := findFolder(box.lists, rest[2])
	if f == nil {
		c.fail(http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	if len(rest) == 3 {
		c.only(c.r.Method, http.MethodGet, func() {
			out := listJSON(f)
			out["@odata.context"] = s.contextURL("users('" + userID + "')/todo/lists/$entity")
			c.writeJSON(http.StatusOK, out)
		})
		return
	}
	if rest[3] != "tasks" {
		c.notFoundSegment(rest[3])
		return
	}
	s.serveCollection(c, &tasksColl, box, f.id, "/users/"+userID+"/todo/lists/"+rest[2]+"/tasks", rest[3:])
}

// routeMail serves /mailFolders, /mailFolders/{id}/messages[/delta|/{id}]
// and /messages/{id} (message-delta.md; read-only here).
func (s *Server) routeMail(c *call, box *mailbox, userID string, rest []string) {
	if !c.requireMailbox(messagesColl.readPerms...) {
		return
	}
	if rest[0] == "messages" {
		if len(rest) != 2 || c.r.Method != http.MethodGet {
			c.notFoundOrMethod(len(rest), 2)
			return
		}
		it := c.lookup(box.messages, rest[1])
		if it == nil {
			return
		}
		out := messagesColl.render(it, c.prefer.immutableID)
		out["@odata.context"] = s.contextURL("users('" + userID + "')/messages/$entity")
		c.writeJSON(http.StatusOK, out)
		return
	}
	if len(rest) == 1 {
		c.only(c.r.Method, http.MethodGet, func() {
			var list []map[string]any
			for _, f := range box.mailFolders {
				list = append(list, map[string]any{"id": extID(f.id, false), "displayName": f.name})
			}
			c.writePage("/users/"+userID+"/mailFolders", list, 10, 1000, "users('"+userID+"')/mailFolders", false)
		})
		return
	}
	f := findFolder(box.mailFolders, rest[1])
	if f == nil {
		c.itemNotFound()
		return
	}
	if len(rest) == 2 {
		c.only(c.r.Method, http.MethodGet, func() {
			c.writeJSON(http.StatusOK, map[string]any{"id": extID(f.id, false), "displayName": f.name})
		})
		return
	}
	if rest[2] != "messages" {
		c.notFoundSegment(rest[2])
		return
	}
	s.serveCollection(c, &messagesColl, box, f.id, "/users/"+userID+"/mailFolders/"+rest[1]+"/messages", rest[2:])
}

// --- the Outlook side for contacts, tasks and messages ---

func (s *Server) outlookCreate(co *collection, user, folderKey string, data map[string]any, pick func(*mailbox) []*folder) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return "", err
	}
	folders := pick(box)
	f := folders[0]
	if folderKey != "" {
		if f = findFolder(folders, folderKey); f == nil {
			return "", &Error{Status: http.StatusNotFound, Code: "ErrorItemNotFound", Message: "folder " + folderKey + " not found"}
		}
	}
	it, e := s.createItem(co, box, f.id, normalizeNumbers(cloneMap(data)).(map[string]any))
	if e != nil {
		return "", e
	}
	return extID(it.id, co.immutable), nil
}

func (s *Server) outlookPatch(co *collection, user, id string, patch map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return err
	}
	it := co.items(box)[intID(id)]
	if it == nil || it.deleted {
		return &Error{Status: http.StatusNotFound, Code: "ErrorItemNotFound", Message: "The specified object was not found in the store."}
	}
	if e := s.patchItem(co, box, it, normalizeNumbers(cloneMap(patch)).(map[string]any)); e != nil {
		return e
	}
	return nil
}

func (s *Server) outlookDelete(co *collection, user, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return err
	}
	it := co.items(box)[intID(id)]
	if it == nil || it.deleted {
		return &Error{Status: http.StatusNotFound, Code: "ErrorItemNotFound", Message: "The specified object was not found in the store."}
	}
	s.deleteItem(box, it)
	return nil
}

func (s *Server) outlookList(co *collection, user string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	box, err := s.boxOf(user)
	if err != nil {
		return nil
	}
	items := co.items(box)
	var ids []string
	for id, it := range items {
		if !it.deleted {
			ids = append(ids, id)
		}
	}
	sortItems(ids, items, false)
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, co.render(items[id], true))
	}
	return out
}

// PutContact creates a contact (Graph JSON shape) in the user's default
// contact folder and returns its immutable id.
func (s *Server) PutContact(user string, contact map[string]any) (string, error) {
	return s.outlookCreate(&contactsColl, user, "", contact, func(b *mailbox) []*folder { return b.contactFolders })
}

// PatchContact updates a contact as PATCH does.
func (s *Server) PatchContact(user, id string, patch map[string]any) error {
	return s.outlookPatch(&contactsColl, user, id, patch)
}

// DeleteContact deletes a contact.
func (s *Server) DeleteContact(user, id string) error {
	return s.outlookDelete(&contactsColl, user, id)
}

// Contacts returns every contact of the user (all folders), immutable ids.
func (s *Server) Contacts(user string) []map[string]any { return s.outlookList(&contactsColl, user) }

// PutTask creates a To Do task in the user's default list and returns its id.
func (s *Server) PutTask(user string, task map[string]any) (string, error) {
	return s.outlookCreate(&tasksColl, user, "", task, func(b *mailbox) []*folder { return b.lists })
}

// PatchTask updates a task as PATCH does.
func (s *Server) PatchTask(user, id string, patch map[string]any) error {
	return s.outlookPatch(&tasksColl, user, id, patch)
}

// DeleteTask deletes a task.
func (s *Server) DeleteTask(user, id string) error { return s.outlookDelete(&tasksColl, user, id) }

// Tasks returns every To Do task of the user (all lists).
func (s *Server) Tasks(user string) []map[string]any { return s.outlookList(&tasksColl, user) }

// PutMessage delivers a message into the user's Inbox (folder "" or a
// well-known name such as "inbox", "sentitems", or a folder id) and returns
// its immutable id.
func (s *Server) PutMessage(user, folderKey string, msg map[string]any) (string, error) {
	return s.outlookCreate(&messagesColl, user, folderKey, msg, func(b *mailbox) []*folder { return b.mailFolders })
}

// PatchMessage changes a message (e.g. marks it read).
func (s *Server) PatchMessage(user, id string, patch map[string]any) error {
	return s.outlookPatch(&messagesColl, user, id, patch)
}

// DeleteMessage deletes a message.
func (s *Server) DeleteMessage(user, id string) error {
	return s.outlookDelete(&messagesColl, user, id)
}
