/**
 * The case study's policy, for tests: read from the shipped bundle
 * (`policies/healthcare/telemedicine.rego`, the seed byte for byte), so the
 * tests run on exactly what the node runs.
 */
import { readFileSync } from 'node:fs';

export const SEED = readFileSync(new URL('../../../policies/healthcare/telemedicine.rego', import.meta.url), 'utf8');
