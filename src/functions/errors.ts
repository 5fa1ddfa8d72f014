/**
 * The stable error codes of the functions part, each with its HTTP status
 * (fastify's `FST_ERR_*` catalogue is the model). Callers branch on `code`,
 * never on the message. Every code is documented in functions/README.md; a
 * test fails when one is not.
 */

export const FnErrorCodes = {
  /** The bytes are not a WebAssembly module V8 can compile. */
  invalidModule: { code: 'FN_ERR_INVALID_MODULE', status: 400 },
  /** The module imports something the sandbox does not grant; the message names the import. */
  forbiddenImport: { code: 'FN_ERR_FORBIDDEN_IMPORT', status: 400 },
  /** The module is not a WASI command (no `_start`, no `memory`), or declares memory or tables beyond the limits. */
  badShape: { code: 'FN_ERR_MODULE_SHAPE', status: 400 },
  /** The module is larger than the registration limit. */
  moduleTooLarge: { code: 'FN_ERR_MODULE_TOO_LARGE', status: 413 },
  /** The function name is not `[a-z0-9][a-z0-9-]{0,62}`. */
  badName: { code: 'FN_ERR_BAD_NAME', status: 400 },
  /** The input is not a JSON value or is larger than the input limit. */
  badInput: { code: 'FN_ERR_BAD_INPUT', status: 400 },
  /** No function of that name is registered. */
  notFound: { code: 'FN_ERR_NOT_FOUND', status: 404 },
  /** The function is registered but disabled. */
  disabled: { code: 'FN_ERR_DISABLED', status: 409 },
  /** The policy denied `run_function` for this principal. */
  denied: { code: 'FN_ERR_DENIED', status: 403 },
  /** The call passed its wall-time deadline; its worker was terminated and replaced. */
  timeout: { code: 'FN_ERR_TIMEOUT', status: 504 },
  /** The function tried to grow its memory past the limit and trapped. */
  memoryLimit: { code: 'FN_ERR_MEMORY_LIMIT', status: 502 },
  /** The function wrote more to stdout than the output limit allows. */
  outputTooLarge: { code: 'FN_ERR_OUTPUT_TOO_LARGE', status: 502 },
  /** The function trapped (unreachable, out-of-bounds access, stack overflow, ...). */
  trap: { code: 'FN_ERR_TRAP', status: 502 },
  /** The function exited with a non-zero code; the message carries its first stderr line. */
  exit: { code: 'FN_ERR_EXIT', status: 422 },
  /** The function's stdout is not one JSON document. */
  badOutput: { code: 'FN_ERR_BAD_OUTPUT', status: 502 },
  /** The call queue is full. */
  busy: { code: 'FN_ERR_BUSY', status: 503 },
  /** The worker running the call died for a reason other than the deadline. */
  worker: { code: 'FN_ERR_WORKER', status: 500 },
  /** The runtime is closed. */
  closed: { code: 'FN_ERR_CLOSED', status: 503 },
  /** No functions API route of that path, or not for that method. */
  route: { code: 'FN_ERR_ROUTE', status: 404 },
  method: { code: 'FN_ERR_METHOD', status: 405 },
  /** An unexpected error; details are in the node's log only. */
  internal: { code: 'FN_ERR_INTERNAL', status: 500 },
} as const;

export type FnErrorKey = keyof typeof FnErrorCodes;
export type FnErrorCode = (typeof FnErrorCodes)[FnErrorKey]['code'];

/** An error of the functions part: a stable `code`, its HTTP `status`, and a PHI-free message. */
export class FunctionError extends Error {
  override readonly name = 'FunctionError';
  readonly code: FnErrorCode;
  readonly status: number;

  constructor(key: FnErrorKey, message: string) {
    super(message);
    this.code = FnErrorCodes[key].code;
    this.status = FnErrorCodes[key].status;
  }
}
