/**
 * The functions API, free of HTTP (medplum's fhir-router is the model): a
 * request comes in as method, path below `/functions`, body and caller, and
 * leaves as a status and a JSON body. node/ mounts it on Fastify.
 *
 *   GET    /functions                 list
 *   GET    /functions/{name}          one function
 *   PUT    /functions/{name}          register or replace: body application/wasm, or JSON
 *                                     {"wasm": base64, "limits": {...}, "trigger": {...}};
 *                                     limits also as query
 *                                     (timeoutMs, memoryPages, outputBytes, logBytes, inputBytes)
 *   DELETE /functions/{name}          unregister
 *   POST   /functions/{name}/enable   enable
 *   POST   /functions/{name}/disable  disable
 *   POST   /functions/{name}/call     run on the JSON body; answers {"output": ...}
 *
 * Errors answer `{"error": {"code": "FN_ERR_...", "message": ...}}` with the code's status.
 */
import { FunctionError } from './errors.ts';
import type { Caller, FunctionLimits, FunctionRegistry } from './registry.ts';
import { parseTrigger, type Trigger } from './triggers.ts';

export interface AdminRequest {
  method: string;
  /** The path below `/functions`: '', '/news2', '/news2/call'. */
  path: string;
  query?: Record<string, string | undefined>;
  /** Raw module bytes (application/wasm), or the parsed JSON body. */
  body?: unknown;
  caller: Caller;
}

export interface AdminResponse {
  status: number;
  body?: unknown;
}

const LIMIT_KEYS = ['timeoutMs', 'memoryPages', 'outputBytes', 'logBytes', 'inputBytes'] as const;

function limitsFrom(source: Record<string, unknown> | undefined): Partial<FunctionLimits> {
  const limits: Partial<FunctionLimits> = {};
  if (!source) return limits;
  for (const k of LIMIT_KEYS) {
    const v = source[k];
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new FunctionError('badInput', `${k} must be a positive whole number`);
    limits[k] = n;
  }
  return limits;
}

function moduleBytes(body: unknown): { wasm: Uint8Array; limits: Partial<FunctionLimits>; trigger?: Trigger } {
  if (body instanceof Uint8Array) return { wasm: body, limits: {} };
  if (body !== null && typeof body === 'object' && typeof (body as { wasm?: unknown }).wasm === 'string') {
    const b = body as { wasm: string; limits?: Record<string, unknown>; trigger?: unknown };
    return {
      wasm: new Uint8Array(Buffer.from(b.wasm, 'base64')), limits: limitsFrom(b.limits),
      ...(b.trigger !== undefined ? { trigger: parseTrigger(b.trigger) } : {}),
    };
  }
  throw new FunctionError('invalidModule', 'send the module as application/wasm, or JSON {"wasm": "<base64>"}');
}

/** The error body every failure answers with. */
export function errorResponse(err: unknown): AdminResponse {
  const e = err instanceof FunctionError ? err : new FunctionError('internal', 'internal error');
  return { status: e.status, body: { error: { code: e.code, message: e.message } } };
}

export class FunctionAdmin {
  readonly #registry: FunctionRegistry;

  constructor(registry: FunctionRegistry) {
    this.#registry = registry;
  }

  /** Handles one request; never throws. */
  async handle(req: AdminRequest): Promise<AdminResponse> {
    try {
      return await this.#route(req);
    } catch (err) {
      return errorResponse(err);
    }
  }

  async #route(req: AdminRequest): Promise<AdminResponse> {
    const r = this.#registry;
    const parts = req.path.split('/').filter(Boolean).map(decodeURIComponent);
    const [name, action, ...more] = parts;
    const method = req.method.toUpperCase();
    if (more.length > 0) return notFound();
    if (name === undefined) {
      if (method === 'GET') return { status: 200, body: { functions: r.list(req.caller) } };
      return notAllowed();
    }
    if (action === undefined) {
      switch (method) {
        case 'GET': {
          const info = r.get(req.caller, name);
          if (info === undefined) throw new FunctionError('notFound', `no function named ${name}`);
          return { status: 200, body: info };
        }
        case 'PUT': {
          const { wasm, limits, trigger } = moduleBytes(req.body);
          const existed = r.get(req.caller, name) !== undefined;
          const info = await r.register(req.caller, name, wasm, { ...limits, ...limitsFrom(req.query) }, trigger);
          return { status: existed ? 200 : 201, body: info };
        }
        case 'DELETE':
          await r.unregister(req.caller, name);
          return { status: 204 };
        default:
          return notAllowed();
      }
    }
    if (method !== 'POST') return notAllowed();
    switch (action) {
      case 'enable':
        return { status: 200, body: await r.enable(req.caller, name) };
      case 'disable':
        return { status: 200, body: await r.disable(req.caller, name) };
      case 'call': {
        if (req.body instanceof Uint8Array) throw new FunctionError('badInput', 'send the input as application/json');
        // Passed as JSON text, so a body that is itself a JSON string stays a string.
        const result = await r.call(req.caller, name, JSON.stringify(req.body === undefined ? null : req.body));
        return { status: 200, body: { output: result.output } };
      }
      default:
        return notFound();
    }
  }
}

const notFound = (): AdminResponse => errorResponse(new FunctionError('route', 'no such functions route'));
const notAllowed = (): AdminResponse => errorResponse(new FunctionError('method', 'method not allowed on this functions route'));
