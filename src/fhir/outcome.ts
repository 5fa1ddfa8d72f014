/**
 * FHIR errors. Every error at the `/fhir` boundary is an OperationOutcome
 * (https://hl7.org/fhir/R4/operationoutcome.html) with the HTTP status the
 * RESTful API page gives (https://hl7.org/fhir/R4/http.html).
 */

/** OperationOutcome.issue.code values we use (https://hl7.org/fhir/R4/valueset-issue-type.html). */
export type IssueType =
  | 'invalid' | 'structure' | 'required' | 'value' | 'invariant' | 'security' | 'login' | 'forbidden'
  | 'not-found' | 'deleted' | 'too-long' | 'not-supported' | 'duplicate' | 'multiple-matches' | 'conflict'
  | 'processing' | 'exception' | 'too-costly' | 'business-rule' | 'incomplete' | 'throttled' | 'informational';

export interface Issue {
  severity: 'fatal' | 'error' | 'warning' | 'information';
  code: IssueType;
  diagnostics?: string;
  /** FHIRPath of the element at fault, e.g. `Observation.status`. */
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: Issue[];
  [k: string]: unknown;
}

/** An error that carries its HTTP status and OperationOutcome issues. */
export class FhirError extends Error {
  override readonly name = 'FhirError';
  readonly status: number;
  readonly issues: Issue[];

  constructor(status: number, code: IssueType, diagnostics: string, expression?: string) {
    super(diagnostics);
    this.status = status;
    this.issues = [{ severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) }];
  }

  static withIssues(status: number, issues: Issue[]): FhirError {
    const e = new FhirError(status, issues[0]?.code ?? 'processing', issues[0]?.diagnostics ?? 'error');
    e.issues.splice(0, e.issues.length, ...issues);
    return e;
  }

  toOutcome(): OperationOutcome {
    return { resourceType: 'OperationOutcome', issue: this.issues };
  }
}

export const badRequest = (msg: string, expression?: string) => new FhirError(400, 'invalid', msg, expression);
export const notFound = (msg: string) => new FhirError(404, 'not-found', msg);
export const gone = (msg: string) => new FhirError(410, 'deleted', msg);
export const forbidden = (msg: string) => new FhirError(403, 'forbidden', msg);
export const unauthorized = (msg: string) => new FhirError(401, 'login', msg);
export const preconditionFailed = (msg: string) => new FhirError(412, 'conflict', msg);
export const unprocessable = (msg: string, expression?: string) => new FhirError(422, 'processing', msg, expression);
export const notAllowed = (msg: string) => new FhirError(405, 'not-supported', msg);

export function outcome(severity: Issue['severity'], code: IssueType, diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

/** Maps any thrown value to a FhirError; unknown errors become a 500 without internals. */
export function toFhirError(err: unknown): FhirError {
  if (err instanceof FhirError) return err;
  return new FhirError(500, 'exception', 'internal error');
}
