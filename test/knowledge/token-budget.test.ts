/** The self-edit token budget fitted to the model's context. */
import { describe, expect, it } from 'vitest';
import { selfEditTokenBudget } from '../../src/domains/knowledge/index.ts';

describe('self-edit token budget', () => {
  it('keeps the configured budget when the context has room (the reference: 8192 new tokens in a 10240-token context)', () => {
    expect(selfEditTokenBudget(300, 10240, 8192)).toEqual({ maxNewTokens: 8192, reducedFrom: null });
    expect(selfEditTokenBudget(2048, 10240, 8192)).toEqual({ maxNewTokens: 8192, reducedFrom: null });
  });

  it('lowers it to what the context leaves after the prompt', () => {
    expect(selfEditTokenBudget(2049, 10240, 8192)).toEqual({ maxNewTokens: 8191, reducedFrom: 8192 });
    expect(selfEditTokenBudget(400, 512, 8192)).toEqual({ maxNewTokens: 112, reducedFrom: 8192 });
  });

  it('is 0 when the prompt fills the context', () => {
    expect(selfEditTokenBudget(512, 512, 8192)).toEqual({ maxNewTokens: 0, reducedFrom: 8192 });
    expect(selfEditTokenBudget(600, 512, 64)).toEqual({ maxNewTokens: 0, reducedFrom: 64 });
  });

  it('rejects a budget that is not a positive integer', () => {
    expect(() => selfEditTokenBudget(10, 512, 0)).toThrow(/positive integer, got 0/);
    expect(() => selfEditTokenBudget(10, 512, 1.5)).toThrow(/positive integer/);
  });
});
