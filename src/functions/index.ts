/**
 * Wasm functions: hospital-supplied processing (early-warning scores, ECG
 * analysis, de-identification) run as WASI preview1 commands inside the node,
 * on the node's thread under fuel (a metered copy of the module) or in
 * pre-started worker threads, with no network, no files and no environment.
 * HTTP-agnostic: node/ mounts {@link FunctionAdmin.handle}.
 */
export {
  FunctionRegistry, FunctionRegistry as FunctionRuntime, DEFAULT_LIMITS, DEFAULT_INLINE_FUEL, NAME_PATTERN, type InlineState,
  type FunctionRuntimeOptions, type FunctionLimits, type RuntimeLimits, type FunctionInfo, type CallResult,
  type Caller, type Decide, type FunctionOperation, type TriggerResult, type LiveLimits,
} from './registry.ts';
export type { CallTrace } from './pool.ts';
export { FunctionError, FnErrorCodes, type FnErrorCode } from './errors.ts';
export { checkModule, type CheckedModule, type ModuleLimits } from './module.ts';
export { GRANTED_IMPORTS } from './wasi.ts';
export { FunctionAdmin, errorResponse, type AdminRequest, type AdminResponse } from './admin.ts';
export { functionMetrics } from './metrics.ts';
export { registerShipped, shippedModule, buildShipped, PREBUILT_DIR, SHIPPED_FUNCTIONS, type ShippedFunction, type ShippedOptions } from './shipped.ts';
export { buildFunction, BuildError, FUNCTIONS_DIR, sourcesDigest, type BuildOptions } from './build.ts';
export { MemoryFunctionStore, SqliteFunctionStore, FUNCTION_MIGRATIONS, type FunctionStore, type StoredFunction } from './persist.ts';
export { parseTrigger, matches, outputResource, TriggerOutputs, type Trigger, type TriggerOutput, type TriggerResource } from './triggers.ts';
