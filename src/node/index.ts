/**
 * The edge node: the composition root that wires config, store, identity,
 * policy, the clinical record, audit, metrics and the HTTP adapter together.
 */
import type { FastifyInstance } from 'fastify';
import { AuditChain, AUDIT_MIGRATIONS } from '../audit/index.ts';
import { Authenticator } from '../auth/index.ts';
import { createConsultService, type ConsultService } from '../consult/index.ts';
import {
  FunctionAdmin, FunctionRegistry, FUNCTION_MIGRATIONS, SqliteFunctionStore, functionMetrics, registerShipped, SHIPPED_FUNCTIONS,
} from '../functions/index.ts';
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { ConfigError, type Config } from '../config/index.ts';
import { FhirService, FHIR_MIGRATIONS, ResourceTypes, ResourceValidator, type Resource } from '../fhir/index.ts';
import { createLogger, Metrics, type Logger } from '../observability/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { createVitalsService, VITALS_MIGRATIONS, type VitalsService } from '../vitals/index.ts';
import { Aggregator, AggregateMetrics, createSyncAgent, ed25519Key, SYNC_MIGRATIONS, type SyncAgent } from '../sync/index.ts';
import { DEMO, seedDemo } from './demo.ts';
import { buildHttp } from './http.ts';
import { createNodePolicy, type NodePolicy } from './policy.ts';
import { createNodeSettings, type NodeSettings } from './settings.ts';
import { UpgradeRouter } from './upgrades.ts';

export { DEMO };
export { PolicyLoadError } from './policy.ts';
export { UpgradeRouter, type UpgradeTarget } from './upgrades.ts';
export { KEPT_CONFIG_FILE, type NodeSettings, type NodeSettingsStatus, type EffectiveSettings } from './settings.ts';

export interface EdgeNode {
  app: FastifyInstance;
  store: Store;
  policy: NodePolicy;
  /** The remotely settable settings in force (local, or a configuration from the hub). */
  settings: NodeSettings;
  consult: ConsultService;
  vitals: VitalsService;
  /** WebSocket upgrades by path (consult, vitals; tests add services of their own); other paths get 404. */
  upgrades: UpgradeRouter;
  sync: SyncAgent;
  functions: FunctionRegistry;
  fhir: FhirService;
  auth: Authenticator;
  logger: Logger;
  metrics: Metrics;
  /** The URL the node listens on (after start). */
  url: string;
  /** Demo appointment of today, when demo mode is on. */
  demoAppointment?: string;
  /** Drains in-flight requests, closes the database. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Listen on this port instead of config.port (0 = any free port). */
  port?: number;
}

export async function startNode(config: Config, opts: StartOptions = {}): Promise<EdgeNode> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel });
  const metrics = new Metrics();
  const store = openStore({
    dataDir: config.dataDir,
    ...(config.dataKey ? { dataKey: config.dataKey } : {}),
    sync: config.dbSync,
    onCommit: (s) => metrics.dbCommitDuration.observe(s),
  });
  store.migrate([...FHIR_MIGRATIONS, ...AUDIT_MIGRATIONS, ...FUNCTION_MIGRATIONS, ...VITALS_MIGRATIONS, ...SYNC_MIGRATIONS]);
  const chain = new AuditChain(store.db);
  const validator = new ResourceValidator();
  validator.warm(ResourceTypes);
  let policy: NodePolicy;
  try {
    policy = createNodePolicy({ ...(config.policyDir ? { dir: config.policyDir } : {}), dataDir: config.dataDir, logger, metrics });
  } catch (err) {
    store.close();
    throw err;
  }
  let hubKey: KeyObject | undefined;
  if (config.hubPublicKey) {
    try {
      const pem = config.hubPublicKey.includes('-----BEGIN') ? config.hubPublicKey : readFileSync(config.hubPublicKey, 'utf8');
      hubKey = ed25519Key(pem, 'public');
    } catch (err) {
      policy.close();
      store.close();
      throw new ConfigError(`TELEMED_HUB_PUBLIC_KEY: not an Ed25519 public key (PEM file or text): ${(err as Error).message}`);
    }
  }
  // Wasm functions: registrations kept in SQLite; every operation asks the policy (run_function).
  const functions = new FunctionRegistry({
    logger,
    store: new SqliteFunctionStore(store),
    limits: {
      memoryPages: config.fnMaxMemoryPages, timeoutMs: config.fnTimeoutMs, outputBytes: config.fnMaxOutputBytes,
      logBytes: config.fnMaxStderrBytes, workers: config.fnWorkers,
    },
    spinUs: config.fnSpinUs,
    inlineFuel: config.fnInlineFuel,
    decide: (input) => {
      const d = policy.current().decide(input);
      metrics.policyDecisions.inc({ action: input.action, allow: String(d.allow) });
      return d;
    },
    ...functionMetrics(metrics.registry),
  });
  const system = { id: `Device/${config.nodeId}`, role: 'admin' as const };
  // Settings the hub may roll out (signed, like bundles): a kept configuration is verified and in force from here on.
  const settings = createNodeSettings({ config, logger, functions, ...(hubKey ? { hubKey } : {}) });

  const fhir = new FhirService({
    store,
    validator,
    policy: () => policy.current(),
    audit: chain,
    nodeId: config.nodeId,
    onOutcome: (interaction, type, outcome) => metrics.fhirOperations.inc({ interaction, type, outcome }),
    onDecision: (action, allow) => metrics.policyDecisions.inc({ action, allow: String(allow) }),
    // Event triggers: a created resource runs the functions registered for it; their output is kept as a record.
    onCreated: (created) => {
      for (const resource of created) {
        void functions.runTriggers(system, resource).then(async (results) => {
          for (const r of results) if (r.resource) await fhir.putAsSystem(r.resource as Resource);
        }).catch((err: Error) => logger.warn({ part: 'functions', err: { message: err.message } }, 'trigger output not stored'));
      }
    },
  });
  await functions.restore();
  if (config.functionsShipped) {
    const missing = SHIPPED_FUNCTIONS.filter((n) => functions.get(system, n) === undefined);
    if (missing.length > 0) {
      void registerShipped(functions, system, { names: missing }).catch((err: Error) =>
        logger.warn({ part: 'functions', err: { message: err.message } }, 'shipped functions not registered'),
      );
    }
  }
  const auth = new Authenticator({
    dataDir: config.dataDir,
    nodeId: config.nodeId,
    ...(config.jwksUrl ? { jwksUrl: config.jwksUrl } : {}),
    ...(config.oidcIssuer ? { issuer: config.oidcIssuer } : {}),
    ...(config.oidcAudience ? { audience: config.oidcAudience } : {}),
  });
  const demoAppointment = config.demo ? await seedDemo(fhir) : undefined;

  const consult = createConsultService({
    fhir,
    auth,
    policy: () => policy.current(),
    logger,
    registry: metrics.registry,
    ...(config.turnUrls && config.turnSecret ? { turn: { urls: config.turnUrls, secret: config.turnSecret, relayOnly: config.icePolicy === 'relay' } } : {}),
    onDecision: (action, allow) => metrics.policyDecisions.inc({ action, allow: String(allow) }),
  });

  // Sync with the hub: a durable outbox drained over RabbitMQ when AMQP_URL is set; every
  // message asks the policy's data_transfer decision (docs/SYNC.md). Hourly de-identified
  // figures of finished calls feed it.
  // Bundles rolled out by the hub: signature checked by the agent, compiled and self-tested by the policy, kept across restarts.
  const sync = createSyncAgent({
    store, policy: () => policy.current(), logger, registry: metrics.registry,
    nodeId: config.nodeId, city: config.nodeCity, prefix: config.syncPrefix, groups: settings.current().nodeGroups,
    ...(config.amqpUrl ? { amqpUrl: config.amqpUrl } : {}),
    ...(hubKey ? {
      // Each kind takes only a newer signed message than the one kept in force (replay protection, docs/SYNC.md).
      bundles: { publicKey: hubKey, apply: (files, revision, signed) => policy.install(files, revision, signed), signed: () => policy.signed },
      config: { publicKey: hubKey, apply: (revision, s, sig, issuedAt) => settings.apply(revision, s, sig, issuedAt), inForce: () => settings.revision, signed: () => settings.signed },
    } : {}),
  });
  settings.onGroups((groups) => sync.setGroups(groups));
  if (config.amqpUrl && !hubKey) logger.info({ part: 'sync' }, 'no TELEMED_HUB_PUBLIC_KEY: policy bundles and configurations from the hub are not taken');
  const figures = new Aggregator({ sink: (p) => sync.enqueue('aggregate', p), logger, minCount: () => settings.current().fleetMinCount });
  consult.on('call-ended', (e) => {
    const now = Date.now();
    figures.observe(AggregateMetrics.consultations, now);
    if (e.summary.durationSeconds !== undefined) figures.observe(AggregateMetrics.consultationSeconds, now, { value: e.summary.durationSeconds });
    figures.observe(AggregateMetrics.callQuality, now, { bucket: e.summary.quality });
  });
  sync.start();

  // Live vitals: /ws/vitals and POST /api/vitals; fan-out to the clinicians the consult service admitted; NEWS2 as the news2 function.
  const vitals = createVitalsService({
    store, fhir, auth, policy: () => policy.current(), logger, registry: metrics.registry, consult, functions, system,
    onDecision: (action, allow) => metrics.policyDecisions.inc({ action, allow: String(allow) }),
    // De-identified fleet figures: how many samples and alerts this hour, nothing about whom.
    onStored: (n) => figures.observe(AggregateMetrics.vitalsSamples, Date.now(), { value: n }),
    onAlert: () => figures.observe(AggregateMetrics.alerts, Date.now()),
  });

  let ready = false;
  const app = buildHttp({ logger, metrics, auth, fhir, policy, consult, vitals, functions: new FunctionAdmin(functions), bodyLimit: config.bodyLimit, publicUrl: config.publicUrl, ready: () => ready,
    status: () => {
      const s = sync.status();
      const fromHub = policy.source === 'hub' ? policy.signed : undefined;
      return {
        node: config.nodeId, city: config.nodeCity,
        policy: { revision: policy.revision, source: policy.source, issuedAt: fromHub?.revision === policy.revision ? fromHub.issuedAt : null },
        config: { ...settings.status(), refused: s.configRefused ?? null }, sync: s,
      };
    } });
  // One listener for every WebSocket upgrade: by path to its service, 404 for any other path.
  const upgrades = new UpgradeRouter(app.server, logger);
  upgrades.add(consult);
  upgrades.add(vitals);
  const address = await app.listen({ port: opts.port ?? config.port, host: config.host });
  const port = new URL(address).port;
  ready = true;
  metrics.up.set(1);

  let closing: Promise<void> | undefined;
  const node: EdgeNode = {
    app, store, policy, settings, consult, vitals, upgrades, sync, functions, fhir, auth, logger, metrics,
    url: `http://127.0.0.1:${port}`,
    ...(demoAppointment ? { demoAppointment } : {}),
    close() {
      closing ??= (async () => {
        ready = false;
        metrics.up.set(0);
        policy.close();
        await vitals.close();
        await consult.close();
        await app.close();
        await functions.close();
        await figures.close();
        await sync.close();
        store.close();
      })();
      return closing;
    },
  };
  return node;
}
