/**
 * The HTTP adapter: Fastify routes for health, metrics, the web app and the
 * FHIR endpoint. Domain logic stays in the parts; this file only translates.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AuthError, type Authenticator, type Principal } from '../auth/index.ts';
import { FhirError, outcome, isResourceType, type FhirService } from '../fhir/index.ts';
import type { Metrics } from '../observability/index.ts';
import type { NodePolicy } from './policy.ts';
import type { ConsultService } from '../consult/index.ts';
import type { FunctionAdmin } from '../functions/index.ts';
import type { VitalsService } from '../vitals/index.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    routeLabel?: string;
  }
}

export interface HttpDeps {
  logger: Logger;
  metrics: Metrics;
  auth: Authenticator;
  fhir: FhirService;
  policy: NodePolicy;
  consult: ConsultService;
  vitals: VitalsService;
  functions: FunctionAdmin;
  bodyLimit: number;
  publicUrl: string;
  /** True once the node can serve (store open, validators compiled). */
  ready: () => boolean;
  /** The node's own state for `GET /api/status` (no patient data): sync link, backlog, policy bundle in force. */
  status?: () => unknown;
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const WEB_DIST = fileURLToPath(new URL('../../dist/web', import.meta.url));

/** A label for the metrics: the route pattern, with FHIR paths folded to their shape (bounded cardinality). */
function fhirLabel(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean).slice(1);
  if (parts.length === 0) return '/fhir';
  const type = isResourceType(parts[0]!) || parts[0] === 'metadata' ? parts[0] : '{unknown}';
  const shape = ['', ':id', '_history', ':vid'].slice(1, Math.min(parts.length, 4)).join('/');
  return `/fhir/${type}${shape ? `/${shape}` : ''}`;
}

export function buildHttp(d: HttpDeps): FastifyInstance {
  /**
   * Wraps a handler that needs a signed-in caller: no or a bad token is a 401
   * (with `WWW-Authenticate: Bearer`) in the route's own error shape.
   */
  const withPrincipal =
    (
      handler: (req: FastifyRequest, reply: FastifyReply, principal: Principal) => Promise<unknown>,
      unauthorized: (message: string) => unknown = (message) => ({ error: { code: 'unauthorized', message } }),
    ) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      let principal: Principal;
      try {
        principal = await d.auth.authenticate(req.headers.authorization);
      } catch (err) {
        const message = err instanceof AuthError ? err.message : 'invalid token';
        return reply.code(401).header('www-authenticate', 'Bearer').send(unauthorized(message));
      }
      return handler(req, reply, principal);
    };
  const app = Fastify({
    loggerInstance: d.logger.child({ part: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: d.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    // Errors the router raises before any route runs (a URL that is not validly
    // percent-encoded, an over-long path) get the same OperationOutcome shape.
    frameworkErrors: (err, req, reply) => replyError(err, req, reply),
  });

  // FHIR and plain JSON bodies; a parse error is answered by the error handler below.
  app.addContentTypeParser(['application/fhir+json', 'application/json'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (err) {
      const e = new FhirError(400, 'structure', `the body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
      done(e, undefined);
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeLabel ?? req.routeOptions.url ?? 'unmatched';
    d.metrics.httpDuration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) req.log.warn({ route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request failed');
  });

  /** Every error leaves as an OperationOutcome under /fhir, and as `{ error }` elsewhere. */
  const replyError = (err: Error & { statusCode?: number; code?: string }, req: FastifyRequest, reply: FastifyReply) => {
    const isFhir = req.url.startsWith('/fhir');
    let fe: FhirError;
    if (err instanceof FhirError) fe = err;
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') fe = new FhirError(413, 'too-long', `the body is larger than the limit of ${d.bodyLimit} bytes`);
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') fe = new FhirError(415, 'not-supported', 'send application/fhir+json or application/json');
    else if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) fe = new FhirError(err.statusCode, 'invalid', err.message.slice(0, 300));
    else {
      req.log.error({ err: { type: err.name, code: err.code, message: err.message } }, 'unhandled error');
      fe = new FhirError(500, 'exception', 'internal error');
    }
    const send = () =>
      isFhir
        ? reply.code(fe.status).type(FHIR_JSON).send(fe.toOutcome())
        : reply.code(fe.status).send({ error: { code: fe.issues[0]?.code ?? 'error', message: fe.message } });
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && !req.raw.complete) {
      // Answered before the body is read, the 413 is followed by a reset of
      // the connection the client is still sending on, and most clients
      // (Node's fetch among them) report the reset, never the 413. So read and
      // discard the rest first, up to a bound (a lingering close, as nginx does).
      discardBody(req.raw, Math.max(4 * d.bodyLimit, 16 * 1024 * 1024), send);
      return;
    }
    return send();
  };
  app.setErrorHandler(replyError);
  // Under /fhir every path is routed for the FHIR methods, so what falls through is a method the endpoint does not have.
  app.setNotFoundHandler((req, reply) =>
    /^\/fhir(?:[/?]|$)/.test(req.url)
      ? replyError(new FhirError(405, 'not-supported', `${req.method.slice(0, 10)} is not supported on the FHIR endpoint`), req, reply)
      : reply.code(404).send({ error: { code: 'not-found', message: `no route for ${req.method.slice(0, 10)} ${req.url.split('?')[0]!.slice(0, 200)}` } }),
  );

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => (d.ready() ? { status: 'ready' } : reply.code(503).send({ status: 'starting' })));
  app.get('/metrics', async (_req, reply) => reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics()));

  // The browser app, built into dist/web by `npm run build` (run by `npm install`).
  const webIndex = path.join(WEB_DIST, 'index.html');
  const sendIndex = async (_req: FastifyRequest, reply: FastifyReply) => {
    if (!existsSync(webIndex)) {
      return reply.code(503).type('text/plain; charset=utf-8').send('The web app is not built yet: run `npm run build` (npm install does it).\n');
    }
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send(readFileSync(webIndex));
  };
  app.get('/', sendIndex);
  app.get('/join/:appointment', sendIndex);
  app.get('/call/:appointment', sendIndex);
  void app.register(fastifyStatic, {
    root: path.join(WEB_DIST, 'assets'),
    prefix: '/assets/',
    index: false,
    wildcard: true,
    immutable: true,
    maxAge: '365d',
    decorateReply: false,
  });

  /** Who am I: the web app's first call. */
  app.get('/api/me', withPrincipal(async (_req, _reply, p) => ({ id: p.id, role: p.role })));

  /** The node's state for operators (admins): link to the hub, outbox backlog, policy bundle in force and where it came from. */
  app.get('/api/status', withPrincipal(async (_req, reply, p) => {
    if (p.role !== 'admin') return reply.code(403).send({ code: 'forbidden', message: 'the node status is for admins' });
    return d.status?.() ?? {};
  }));

  // Wasm functions admin API (functions/README.md): register (PUT application/wasm), enable, disable, call, list.
  app.addContentTypeParser('application/wasm', { parseAs: 'buffer', bodyLimit: 8 * 1024 * 1024 }, (_req, body, done) => done(null, body));
  const fnHandler = withPrincipal(async (req, reply, principal) => {
    const res = await d.functions.handle({
      method: req.method,
      path: req.url.slice('/functions'.length).split('?')[0]!,
      query: req.query as Record<string, string>,
      body: req.body,
      caller: { id: principal.id, role: principal.role },
    });
    return res.body === undefined ? reply.code(res.status).send() : reply.code(res.status).send(res.body);
  });
  app.route({ method: ['GET', 'PUT', 'POST', 'DELETE'], url: '/functions', handler: fnHandler });
  app.route({ method: ['GET', 'PUT', 'POST', 'DELETE'], url: '/functions/*', handler: fnHandler });

  /** What the web app shows before joining a consultation (PROTOCOL.md); 404 to non-participants. */
  app.get('/api/consult/:appointmentId', withPrincipal(async (req, reply, principal) => {
    const r = d.consult.joinInfo(principal, (req.params as { appointmentId: string }).appointmentId);
    return reply.code(r.status).send(r.body);
  }));

  /** Vitals from devices that cannot hold a socket (src/vitals/PROTOCOL.md, "HTTP batch"); answered after the commit. */
  app.post('/api/vitals', withPrincipal(async (req, reply, principal) => {
    const r = await d.vitals.ingestBatch(principal, req.body);
    return reply.code(r.status).send(r.body);
  }));

  /**
   * OPA's REST data API (https://www.openpolicyagent.org/docs/rest-api#data-api)
   * for admins and sidecar clients: `POST /v1/data/{path}` with `{"input": ...}`
   * answers `{"result": ...}` (no `result` when undefined).
   */
  app.post('/v1/data/*', withPrincipal(async (req, reply, principal) => {
    if (principal.role !== 'admin') return reply.code(403).send({ code: 'forbidden', message: 'the data API is for admins' });
    const parts = (req.params as { '*': string })['*'].split('/').filter(Boolean);
    if (parts.some((p) => !/^[A-Za-z0-9_\-]{1,128}$/.test(p))) return reply.code(400).send({ code: 'invalid_parameter', message: 'bad path segment' });
    const body = (req.body ?? {}) as { input?: unknown };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return reply.code(400).send({ code: 'invalid_parameter', message: 'the body must be {"input": ...}' });
    try {
      const result = d.policy.data(parts, body.input);
      return result === undefined ? {} : { result };
    } catch (err) {
      return reply.code(500).send({ code: 'internal_error', message: String((err as Error).message).slice(0, 300) });
    }
  }, (message) => ({ code: 'unauthorized', message })));

  const fhirHandler = async (req: FastifyRequest, reply: FastifyReply) => {
    req.routeLabel = fhirLabel(req.url);
    const path = req.url.slice('/fhir'.length).split('?')[0]!;
    if (path === '/metadata' && req.method === 'GET') {
      // The CapabilityStatement is public, as the spec expects.
      const res = await d.fhir.handle({ method: 'GET', path, query: [], headers: {}, principal: { id: 'anonymous', role: 'patient' }, baseUrl: baseOf(req, d.publicUrl) });
      return reply.code(res.status).type(FHIR_JSON).send(res.body);
    }
    let principal: Principal;
    try {
      principal = await d.auth.authenticate(req.headers.authorization);
    } catch (err) {
      const msg = err instanceof AuthError ? err.message : 'invalid token';
      return reply.code(401).header('www-authenticate', 'Bearer').type(FHIR_JSON).send(outcome('error', 'login', msg));
    }
    const q = req.url.indexOf('?');
    const res = await d.fhir.handle({
      method: req.method,
      path: decodeURIComponentSafe(path),
      query: q >= 0 ? [...new URLSearchParams(req.url.slice(q + 1))] : [],
      headers: {
        ...(typeof req.headers['if-match'] === 'string' ? { ifMatch: req.headers['if-match'] } : {}),
        ...(typeof req.headers['if-none-exist'] === 'string' ? { ifNoneExist: req.headers['if-none-exist'] } : {}),
        ...(typeof req.headers.prefer === 'string' ? { prefer: req.headers.prefer } : {}),
      },
      body: req.body,
      principal,
      baseUrl: baseOf(req, d.publicUrl),
    });
    reply.code(res.status);
    for (const [k, v] of Object.entries(res.headers ?? {})) reply.header(k, v);
    if (res.body === undefined) return reply.send();
    const minimal = res.status < 300 && /return\s*=\s*minimal/.test(String(req.headers.prefer ?? ''));
    return minimal ? reply.send() : reply.type(FHIR_JSON).send(res.body);
  };
  app.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/fhir', handler: fhirHandler });
  app.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/fhir/*', handler: fhirHandler });

  return app;
}

/** Reads and drops the rest of a request body, then calls `then` (at once past `limit` bytes, or if the request ends or breaks). */
function discardBody(raw: IncomingMessage, limit: number, then: () => void): void {
  let seen = 0;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    raw.off('data', onData);
    then();
  };
  const onData = (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > limit) finish();
  };
  raw.on('data', onData);
  raw.once('end', finish);
  raw.once('close', finish);
  raw.once('error', finish);
  raw.resume();
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new FhirError(400, 'invalid', 'the URL is not validly percent-encoded');
  }
}

/** The FHIR base as the client reached it (Host header when well-formed, else the configured public URL). */
function baseOf(req: FastifyRequest, publicUrl: string): string {
  const host = req.headers.host;
  if (typeof host === 'string' && /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(host)) {
    return `${req.protocol}://${host}/fhir`;
  }
  return `${publicUrl}/fhir`;
}
