// The function SDK: read the input document, write the output document, log.
// A function is a WASI preview1 command: JSON on stdin, JSON on stdout.
export { readInput, writeOutput, log, fail, exit, nowMillis, seed, abort } from "./wasi";
export { JSONValue, JSONWriter, Kind, parseJSON, quote } from "./json";

import { parseJSON, JSONValue } from "./json";
import { readInput } from "./wasi";

/** Reads stdin and parses it as one JSON document (ends the function with a clear message if it is not). */
export function input(): JSONValue {
  return parseJSON(readInput());
}
