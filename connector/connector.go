// Package connector is the SDK a connector author writes against, and the
// host's view of a connector.
//
// A connector is one Go value implementing Connector (the core every
// connector has) plus any of the optional interfaces Reader, ChangeReader,
// Querier, Writer and Subscriber. The same value runs in-process (Local) or as
// a plugin process (Serve in the plugin's main; the host reaches it through
// the go-plugin client in package host/plugin). Nothing in this package's API
// exposes the generated protobuf types: conversion happens at the edge.
//
// Call order, as the host guarantees it: Spec first; Configure exactly once;
// then any other method, concurrently. Every method must honour ctx
// cancellation and be safe for concurrent use after Configure returns.
package connector

import (
	"context"
	"encoding/json"
	"time"

	"github.com/syncplane/syncplane/schema"
)

// ProtocolVersion is the contract version this SDK speaks. It is the
// go-plugin handshake version: a host and a plugin with different versions
// refuse each other with a clear error.
const ProtocolVersion = 1

// Capabilities are the optional parts of the contract a connector offers.
// Spec reports them; the SDK fills them from the interfaces the connector
// implements when they are left false.
type Capabilities struct {
	Read        bool `json:"read"`
	ReadChanges bool `json:"readChanges"`
	Write       bool `json:"write"`
	Query       bool `json:"query"`
	Subscribe   bool `json:"subscribe"`
}

// Spec describes a connector. It must be available without network access
// and before Configure.
type Spec struct {
	Name            string       `json:"name"`
	Version         string       `json:"version"`
	ProtocolVersion int          `json:"protocolVersion"`
	DisplayName     string       `json:"displayName,omitempty"`
	Description     string       `json:"description,omitempty"`
	Capabilities    Capabilities `json:"capabilities"`
	// SettingsSchema is a JSON Schema (draft 2020-12) for Configure's
	// settings object.
	SettingsSchema json.RawMessage `json:"settingsSchema"`
	// SecretSettings are JSON pointers (RFC 6901, "/client_secret") of
	// settings holding secrets; the host never logs or echoes them.
	SecretSettings []string `json:"secretSettings,omitempty"`
}

// ConfigureRequest carries a connection's settings.
type ConfigureRequest struct {
	// Connection is the host's name for the connection, for messages only.
	Connection string
	// Settings is the settings object as JSON, secrets already resolved.
	Settings json.RawMessage
	// Host offers the host's services scoped to this connection. It is never
	// nil: without a host the SDK supplies one that keeps nothing.
	Host Host
}

// Partition is one unit of sync (a mailbox, or the whole CRM).
type Partition struct {
	// ID is stable across runs; empty for the single partition of an
	// unpartitioned entity.
	ID          string
	DisplayName string
}

// Partitions is ListPartitions' answer: the partitions and any warnings
// about members left out.
type Partitions struct {
	Partitions []Partition
	Warnings   Diagnostics
}

// Connector is the core every connector implements.
type Connector interface {
	// Spec describes the connector; see Spec.
	Spec() Spec
	// Configure validates and applies settings, once, before any other call
	// but Spec. Invalid settings return Diagnostics naming each field.
	// Configure should not reach the remote service: Check does.
	Configure(ctx context.Context, req ConfigureRequest) error
	// Check signs in and probes what the configuration needs. It returns every
	// problem found as diagnostics (warnings included); an empty result with
	// no errors means ready.
	Check(ctx context.Context) Diagnostics
	// DiscoverSchema returns the entities of the connection from the
	// service's metadata. It may cache; refresh asks for rediscovery.
	DiscoverSchema(ctx context.Context, refresh bool) (*schema.Schema, error)
	// ListPartitions returns the units of sync of an entity, resolved anew at
	// every call.
	ListPartitions(ctx context.Context, entity string) (Partitions, error)
	// Close releases resources. The host calls it once, last.
	Close() error
}

// ReadRequest asks for every record of one partition of an entity.
type ReadRequest struct {
	Entity    string
	Partition string
	// ModifiedSince, when not zero, limits the read to records modified at or
	// after it.
	ModifiedSince time.Time
	// BatchSize is the preferred number of records per batch; 0 means the
	// connector's default.
	BatchSize int
}

// Reader reads whole partitions.
type Reader interface {
	// Read calls emit with batches of records until the partition is read or
	// emit returns an error, which Read then returns. A batch's slice may be
	// reused once emit returns.
	Read(ctx context.Context, req ReadRequest, emit func([]Record) error) error
}

// ChangesRequest asks for the changes of one partition since a checkpoint.
type ChangesRequest struct {
	Entity    string
	Partition string
	// Checkpoint is the last one the host persisted, or nil for a first sync.
	Checkpoint []byte
	BatchSize  int
}

// ChangeBatch is a batch of changes and the checkpoint that follows them.
type ChangeBatch struct {
	Changes []Change
	// Checkpoint follows the changes of this batch. The host persists it only
	// after the target acknowledged every change of this and earlier batches;
	// resuming from it must yield exactly the changes after it.
	Checkpoint []byte
	// FullResync is set on the first batch when the given checkpoint could not
	// be used and the connector restarted from the full state.
	FullResync bool
	// Warnings accompany the batch (a change that could not be decoded).
	Warnings Diagnostics
}

// ChangeReader reads change feeds.
type ChangeReader interface {
	// ReadChanges calls emit with batches of changes, each followed by its
	// checkpoint, until the partition is caught up or emit returns an error.
	// An empty checkpoint yields the full state as upserts. A checkpoint the
	// service no longer accepts yields the full state with FullResync set on
	// the first batch, never an error.
	ReadChanges(ctx context.Context, req ChangesRequest, emit func(ChangeBatch) error) error
}

// QueryRequest looks records up by field values.
type QueryRequest struct {
	Entity string
	// Partition narrows the search; empty means every partition.
	Partition string
	// Match holds field values each returned record must equal.
	Match map[string]any
	// Limit caps the result; 0 means the connector's default.
	Limit int
}

// Querier looks records up.
type Querier interface {
	// Query returns the records matching every field in Match. No match is an
	// empty result, not an error.
	Query(ctx context.Context, req QueryRequest) ([]Record, error)
}

// Action says what a WriteOp does.
type Action int

// Write actions.
const (
	// ActionUpsert creates the record, or updates it when TargetID is set.
	// An update sets the fields the record carries (a field present with a
	// nil value is cleared) and leaves the record's other fields as they
	// are, as a PATCH does.
	ActionUpsert Action = iota + 1
	// ActionDelete deletes the record named by TargetID.
	ActionDelete
)

// String names the action.
func (a Action) String() string {
	switch a {
	case ActionUpsert:
		return "upsert"
	case ActionDelete:
		return "delete"
	}
	return "unknown"
}

// WriteOp is one record to upsert or delete.
type WriteOp struct {
	Action Action
	// IdempotencyKey is unique per logical write and stable across retries:
	// the same key sent again must not create a second record.
	IdempotencyKey string
	// TargetID is the record's id in the target when known; empty to create.
	TargetID string
	// Partition is the target partition (mailbox) when known.
	Partition string
	Record    Record
}

// WriteBatch is a batch of operations on one entity.
type WriteBatch struct {
	Entity string
	Ops    []WriteOp
}

// Status is what happened to one WriteOp.
type Status int

// Write statuses.
const (
	Created Status = iota + 1
	Updated
	Unchanged // the target already held these values
	Deleted
	Rejected // see the outcome's Diagnostics
)

// String names the status.
func (s Status) String() string {
	switch s {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Unchanged:
		return "unchanged"
	case Deleted:
		return "deleted"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// WriteOutcome is the result of one WriteOp.
type WriteOutcome struct {
	IdempotencyKey string
	Status         Status
	// TargetID is the record's id in the target after the write.
	TargetID string
	// Version is the target's concurrency token after the write.
	Version     string
	Diagnostics Diagnostics
	// Stored is the record as the target holds it after its own
	// normalisation, when the connector can tell cheaply; nil otherwise.
	Stored *Record
}

// Writer applies writes.
type Writer interface {
	// Write applies a batch and returns one outcome per op, in order, after
	// the target holds them durably. A rejected op does not fail the batch.
	// An error means the batch as a whole could not be applied (the host
	// retries it with the same idempotency keys when the code is retryable).
	Write(ctx context.Context, batch WriteBatch) ([]WriteOutcome, error)
}

// SubscribeRequest asks the service to push notifications for a partition.
type SubscribeRequest struct {
	Entity          string
	Partition       string
	NotificationURL string
	ClientState     string
}

// Subscription is an active push subscription.
type Subscription struct {
	ID      string
	Expires time.Time
}

// Notification is an HTTP request received on the host's webhook endpoint.
type Notification struct {
	Header map[string]string
	Query  string
	Body   []byte
}

// PartitionRef names one partition of one entity.
type PartitionRef struct {
	Entity    string
	Partition string
}

// NotificationResult says what to synchronise and how to answer the sender.
type NotificationResult struct {
	Sync        []PartitionRef
	HTTPStatus  int
	ContentType string
	Body        []byte
}

// Subscriber manages push subscriptions.
type Subscriber interface {
	Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error)
	HandleNotification(ctx context.Context, n Notification) (NotificationResult, error)
}

// CapabilitiesOf returns the capabilities c offers by the interfaces it
// implements.
func CapabilitiesOf(c Connector) Capabilities {
	_, r := c.(Reader)
	_, ch := c.(ChangeReader)
	_, w := c.(Writer)
	_, q := c.(Querier)
	_, s := c.(Subscriber)
	return Capabilities{Read: r, ReadChanges: ch, Write: w, Query: q, Subscribe: s}
}
