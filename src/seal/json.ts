/**
 * JSON values as run records hold them, and canonical JSON (object keys sorted, no whitespace) so that equal
 * configurations hash equally whatever order their keys were built in.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Whether `value` is a plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Canonical JSON text: keys sorted by code unit, no whitespace. Properties whose value is undefined are left out (as
 * JSON.stringify does); anything JSON cannot hold exactly (NaN, Infinity, functions, bigints, undefined in an array)
 * is an error naming its path, since a configuration must round-trip through config.json unchanged.
 */
export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${path} is ${value}, which JSON cannot hold`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(',')}]`;
  if (isJsonObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k], `${path}.${k}`)}`).join(',')}}`;
  }
  throw new TypeError(`${path} is ${value === undefined ? 'undefined' : typeof value}, which JSON cannot hold`);
}

/** A deep copy through canonical JSON (checks that the value is plain JSON). */
export function toJsonValue(value: unknown, path = '$'): JsonValue {
  return JSON.parse(canonicalJson(value, path)) as JsonValue;
}
