/**
 * The sync door: what a node sends the hub, and how (docs/SYNC.md).
 *
 * A node de-identifies each aggregate, asks the policy's `data_transfer`
 * decision (destination `hub`, classification `deidentified`), keeps it in a
 * durable outbox in its own SQLite file, and drains the outbox in order to
 * RabbitMQ with publisher confirms, deleting a row only after its confirm.
 */
export { createSyncAgent, transferInput, MessageKinds, ConfigRefusal, type MessageKind, type Envelope, type BundleReport, type ConfigReport, type ConfigApplied, type SyncAgent, type SyncAgentOptions, type SyncStatus, type EnqueueResult } from './agent.ts';
export { SYNC_MIGRATIONS } from './outbox.ts';
export { deidentifyAggregate, hourOf, nodeLabel, DeidentifyError, Metrics as AggregateMetrics, type Aggregate, type Heartbeat, type Metric } from './deidentify.ts';
export { AmqpLink, redactUrl, type LinkOptions } from './link.ts';
export { topology, assertFleet, assertNodeQueue, routingKey, BACKLOG_QUEUE_ARGS, type Topology } from './topology.ts';
export { signBundle, verifyBundle, canonicalBundle, ed25519Key, type SignedBundle, type BundleCheck, type BundleFileText } from './bundles.ts';
export { signConfig, verifyConfig, canonicalConfig, type SignedConfig, type ConfigCheck } from './configs.ts';
export { isIssuedAt, nextIssuedAt, freshness, type SignedStamp } from './issued.ts';
export { Aggregator, type AggregatorOptions } from './aggregator.ts';
