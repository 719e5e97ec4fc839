/**
 * How long a self-edit may be: the reference allows 8192 new tokens (with a 10240-token context,
 * docs/reference/seal-knowledge.md §2.2); a model with a shorter context gets what is left of it after the prompt.
 */

export interface SelfEditTokenBudget {
  /** New tokens allowed; 0 when the prompt fills the context (the self-edit cannot be sampled). */
  readonly maxNewTokens: number;
  /** The configured budget, when the context made it smaller; else null. */
  readonly reducedFrom: number | null;
}

/** The budget of a self-edit whose prompt has `promptTokens` tokens, for a model of `contextLength` positions. */
export function selfEditTokenBudget(promptTokens: number, contextLength: number, requested: number): SelfEditTokenBudget {
  if (!Number.isSafeInteger(requested) || requested < 1) throw new RangeError(`the self-edit token budget must be a positive integer, got ${requested}`);
  const room = Math.max(0, contextLength - promptTokens);
  return room >= requested ? { maxNewTokens: requested, reducedFrom: null } : { maxNewTokens: room, reducedFrom: requested };
}
