// Package graphtest is a stateful, in-memory emulator of the parts of
// Microsoft Graph (v1.0) and the Microsoft identity platform that the Graph
// connector uses. It serves TLS with its own certificate authority (azidentity
// refuses plain HTTP authorities), issues tokens for emulated app
// registrations, and keeps mailboxes (events, contacts, To Do tasks, messages)
// whose changes are reported through delta queries as the service reports
// them. Start one with Start; point clients at GraphEndpoint and
// AuthorityHost and make them trust CACertPEM (or the file WriteCAFile
// writes). `syncplane emulate graph` runs one standalone.
//
// Every behaviour cites the documentation it follows, mostly through the
// sections of the project's reference file graph-api-facts.md (abbreviated
// "facts §N"), which in turn cites the Microsoft pages. Behaviour seen only in
// reports and not in the documentation is marked OBSERVED; choices the
// documentation leaves open are marked UNCONFIRMED.
//
// # Identity platform (under AuthorityHost)
//
//   - GET  /{tenant}/v2.0/.well-known/openid-configuration
//   - GET  /common/discovery/instance (MSAL instance discovery; clients of a
//     custom authority must still set DisableInstanceDiscovery, because MSAL
//     asks login.microsoftonline.com for hosts it does not know)
//   - GET  /{tenant}/oauth2/v2.0/authorize (signs in login_hint, or the first
//     user, consents automatically unless App.NoAutoConsent, redirects with
//     code and state)
//   - GET  /{tenant}/adminconsent
//   - POST /{tenant}/oauth2/v2.0/token: client_credentials (secret, or a
//     certificate assertion checked for signature, thumbprint, aud, iss/sub,
//     lifetime), authorization_code (single use, PKCE, redirect_uri match,
//     refresh token only with offline_access), refresh_token (rotation; the
//     old token keeps working; inactivity expiry; revocation; consent)
//
// Access tokens are opaque strings mapped to their grant (app roles or
// delegated scopes, user, expiry on the emulator's clock).
//
// # Graph (under GraphEndpoint()+"/v1.0")
//
//   - $metadata (no token needed), $batch (≤ 20 parts, dependsOn, 424,
//     per-part throttling inside a 200)
//   - users, users/$count, users/{id|upn}; groups, groups/{id},
//     groups/{id}/members, groups/{id}/transitiveMembers[/microsoft.graph.user]
//   - users/{id}/calendarView/delta, calendarView, calendar, events,
//     events/{id}, events/{id}/instances (also under /me for delegated tokens)
//   - users/{id}/contacts[/delta|/{id}], contactFolders[/{id}/contacts[...]]
//   - users/{id}/todo/lists[/{id}/tasks[/delta|/{id}]]
//   - users/{id}/mailFolders[/{id}/messages[/delta|/{id}]], messages/{id}
//     (read-only for clients; PutMessage and friends change them)
//
// Mailbox requests are limited per app and mailbox to MailboxConcurrency
// requests at once, MailboxRequestBudget requests per 10 minutes and
// MailboxUploadBudget bytes of request bodies per 5 minutes; directory
// requests spend resource units from a per-app 10-second budget (429 with
// Retry-After in every case). Faults scripts 429, 503, 504, connection resets,
// truncated bodies and latency per path, method and mailbox, N times, before
// or after the request commits. Options.Latency delays every request —
// before it is served, or, with LatencyIncludesService, by holding its
// answer until the latency has passed since it arrived, the emulator's own
// processing counted within it. Stats counts requests for figures.
//
// Mailboxes are served in parallel: reads of calendars share the store and
// their mailbox; creates, updates and deletes of events that touch no
// other mailbox share the store and hold their mailbox alone; everything
// else, a meeting's attendee copies included, holds the store alone.
//
// # Choices where the documentation is silent (UNCONFIRMED)
//
//   - A repeated POST with the same transactionId answers 201 with the event
//     the first POST created.
//   - Unknown and expired delta tokens answer 410 SyncStateNotFound with a
//     Location header holding the initial query.
//   - Delta pages hold 10 items unless Prefer: odata.maxpagesize says
//     otherwise; list pages hold 10 (mailbox) or 100 (directory) items.
//   - Series without an end expand three years past the later of their start
//     and now; a series has at most 2,000 occurrences.
//   - Deleting a meeting cancels the attendees' copies (isCancelled, subject
//     prefixed "Canceled: ") rather than removing them.
package graphtest
