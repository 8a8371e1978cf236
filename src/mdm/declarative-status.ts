// Declarative status reports (declarative/protocol/statusreport.yaml), as the DeclarativeManagement
// check-in's `status` endpoint carries them in Data: read strictly, and merged into what the device
// reported before.
//
// Devices nest status items by the dots in their names: `passcode.is-compliant` arrives as
// {"passcode": {"is-compliant": true}}. A report is incremental unless FullReport is true: it
// carries only the items that changed, and an array item only its changed members, each named by
// its `identifier` and marked `_removed: true` when it is gone (Apple's StatusReport discussion,
// e.g. app.managed.list; management.declarations entries carry `identifier` the same way). So an
// incremental report is merged into the stored status; a full one replaces it.

import { MdmProtocolError } from './protocol-error.ts';

/** A StatusReport error: a status item the device could not report, with why. */
export interface StatusReportError {
  StatusItem: string;
  Reasons?: Record<string, unknown>[];
}

export interface StatusReport {
  /** Nested by the dots in the item names (a flat `a.b` key is nested on reading). */
  statusItems: Record<string, unknown>;
  errors: StatusReportError[];
  /** iOS 17, macOS 14, tvOS 17: the report holds every subscribed item ("safety sync"). */
  fullReport: boolean;
}

/** What is kept per enrollment: the merged items and the errors still standing. */
export interface MergedStatus {
  statusItems: Record<string, unknown>;
  errors: StatusReportError[];
}

/** Status values are small documents; anything deeper is not a device's report. */
const MAX_DEPTH = 32;

/**
 * Reads the JSON bytes of a status report. Throws MdmProtocolError, naming what is wrong, when
 * Data is missing, not UTF-8 JSON, or not a StatusReport: StatusItems (dictionary) and Errors
 * (array of {StatusItem, Reasons?}) are required, FullReport is optional and boolean.
 */
export function parseStatusReport(data: Uint8Array | undefined): StatusReport {
  if (data === undefined || data.length === 0) throw new MdmProtocolError('DeclarativeManagement status: Data is missing; it carries the status report');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    // The parser's message quotes the input; the reason stays free of device-chosen text.
    throw new MdmProtocolError('DeclarativeManagement status: Data is not UTF-8 JSON');
  }
  if (!isObject(value)) throw new MdmProtocolError('DeclarativeManagement status: the report is not a JSON object');
  if (depthExceeds(value, MAX_DEPTH)) throw new MdmProtocolError(`DeclarativeManagement status: the report is nested deeper than ${MAX_DEPTH} levels`);
  const { StatusItems, Errors, FullReport } = value;
  if (!isObject(StatusItems)) throw new MdmProtocolError('DeclarativeManagement status: StatusItems is required and must be a dictionary');
  if (!Array.isArray(Errors)) throw new MdmProtocolError('DeclarativeManagement status: Errors is required and must be an array');
  if (FullReport !== undefined && typeof FullReport !== 'boolean') throw new MdmProtocolError('DeclarativeManagement status: FullReport must be a boolean');
  return { statusItems: nestDottedNames(StatusItems), errors: Errors.map(readError), fullReport: FullReport === true };
}

function readError(value: unknown, index: number): StatusReportError {
  const where = `DeclarativeManagement status: Errors[${index}]`;
  if (!isObject(value)) throw new MdmProtocolError(`${where} must be a dictionary`);
  if (typeof value.StatusItem !== 'string' || value.StatusItem === '') throw new MdmProtocolError(`${where}.StatusItem is required and must be a string`);
  if (value.Reasons === undefined) return { StatusItem: value.StatusItem };
  if (!Array.isArray(value.Reasons)) throw new MdmProtocolError(`${where}.Reasons must be an array`);
  const reasons = value.Reasons.map((reason, i) => {
    if (!isObject(reason) || typeof reason.Code !== 'string') throw new MdmProtocolError(`${where}.Reasons[${i}] must be a dictionary with a string Code`);
    if (reason.Description !== undefined && typeof reason.Description !== 'string') throw new MdmProtocolError(`${where}.Reasons[${i}].Description must be a string`);
    if (reason.Details !== undefined && !isObject(reason.Details)) throw new MdmProtocolError(`${where}.Reasons[${i}].Details must be a dictionary`);
    return reason;
  });
  return { StatusItem: value.StatusItem, Reasons: reasons };
}

/**
 * The status after `report`: a full report replaces everything, an incremental one is merged
 * into `previous` (dictionaries key by key, arrays of identified members member by member, any
 * other value replaced). An error stands until the device reports its item or a full report
 * leaves it out.
 */
export function mergeStatusReport(previous: MergedStatus | undefined, report: StatusReport): MergedStatus {
  if (previous === undefined || report.fullReport) {
    // Merged into nothing, so that `_removed` markers never reach the store.
    return { statusItems: mergeValue({}, report.statusItems) as Record<string, unknown>, errors: report.errors };
  }
  const statusItems = mergeValue(previous.statusItems, report.statusItems) as Record<string, unknown>;
  const errors = new Map<string, StatusReportError>();
  for (const e of previous.errors) if (!hasPath(report.statusItems, e.StatusItem.split('.'))) errors.set(e.StatusItem, e);
  for (const e of report.errors) errors.set(e.StatusItem, e);
  return { statusItems, errors: [...errors.values()] };
}

function mergeValue(base: unknown, incoming: unknown): unknown {
  if (isObject(incoming)) {
    // A Map and Object.fromEntries: a "__proto__" key stays a plain key, never a prototype.
    const out = new Map<string, unknown>(isObject(base) ? Object.entries(base) : []);
    for (const [key, value] of Object.entries(incoming)) out.set(key, mergeValue(out.get(key), value));
    return Object.fromEntries(out);
  }
  if (Array.isArray(incoming) && isIdentifiedArray(incoming) && (incoming.length > 0 || (Array.isArray(base) && base.length > 0 && isIdentifiedArray(base)))) {
    const members = new Map<string, unknown>();
    if (Array.isArray(base) && isIdentifiedArray(base)) for (const member of base) members.set(member.identifier, member);
    for (const member of incoming) {
      // A member replaces the one it names whole: it carries its full state.
      if (member._removed === true) members.delete(member.identifier);
      else members.set(member.identifier, member);
    }
    return [...members.values()];
  }
  return incoming;
}

function isIdentifiedArray(values: unknown[]): values is (Record<string, unknown> & { identifier: string })[] {
  return values.every((v) => isObject(v) && typeof v.identifier === 'string');
}

/** `{"passcode.is-compliant": x}` read as `{"passcode": {"is-compliant": x}}`, the form devices send. */
function nestDottedNames(items: Record<string, unknown>): Record<string, unknown> {
  if (!Object.keys(items).some((name) => name.includes('.'))) return items;
  const out = new Map<string, unknown>();
  for (const [name, value] of Object.entries(items)) {
    const [head, ...rest] = name.split('.');
    let nested = value;
    for (const part of rest.reverse()) nested = Object.fromEntries([[part, nested]]);
    out.set(head!, joinDictionaries(out.get(head!), nested));
  }
  return Object.fromEntries(out);
}

/** Dictionaries joined key by key; anything else as given (no array rules: nothing is merged yet). */
function joinDictionaries(base: unknown, incoming: unknown): unknown {
  if (!isObject(base) || !isObject(incoming)) return incoming;
  const out = new Map<string, unknown>(Object.entries(base));
  for (const [key, value] of Object.entries(incoming)) out.set(key, joinDictionaries(out.get(key), value));
  return Object.fromEntries(out);
}

function hasPath(root: unknown, path: readonly string[]): boolean {
  let node = root;
  for (const key of path) {
    if (!isObject(node) || !Object.hasOwn(node, key)) return false;
    node = node[key];
  }
  return true;
}

function depthExceeds(value: unknown, limit: number): boolean {
  if (limit < 0) return true;
  if (Array.isArray(value)) return value.some((v) => depthExceeds(v, limit - 1));
  if (isObject(value)) return Object.values(value).some((v) => depthExceeds(v, limit - 1));
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
