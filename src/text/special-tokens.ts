/**
 * Reading special-token fields out of Hugging Face config files.
 *
 * tokenizer_config.json spells a special token either as a string ("<s>"), as an AddedToken object
 * ({"content": "<s>", ...}) or as null; generation_config.json gives token ids as a number or a list.
 */

/** Thrown when tokenizer files are missing, not JSON, or not shaped like Hugging Face tokenizer files. */
export class TokenizerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerLoadError';
  }
}

/** A parsed JSON object (what JSON.parse returns for `{...}`). */
export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The text of a special-token field (`"<s>"` or `{content: "<s>"}`); null when absent or null. */
export function specialTokenText(config: JsonObject, field: string): string | null {
  const value = config[field];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (isJsonObject(value) && typeof value.content === 'string') return value.content;
  throw new TokenizerLoadError(`tokenizer_config.json: "${field}" must be a string or {"content": string}, got ${JSON.stringify(value)}`);
}

/** Token ids from a generation_config.json field that may be absent, null, a number or a list of numbers. */
export function tokenIdList(config: JsonObject, field: string): number[] {
  const value = config[field];
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const id of list) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new TokenizerLoadError(`generation_config.json: "${field}" must be a token id or a list of token ids, got ${JSON.stringify(value)}`);
    }
  }
  return list as number[];
}
