/** Transformer.stepBatch with greedy choice that also returns the logits rows it chose from (one per entry). */
import type { Tensor } from '../../src/gpu/tensor.ts';
import type { KvCache } from '../../src/model/kv-cache.ts';
import type { SequenceChunk, TokenChooser, Transformer } from '../../src/inference/transformer.ts';
import { argmax } from '../../src/ops/sampling.ts';

export async function stepCapturingLogits(t: Transformer, cache: KvCache, entries: SequenceChunk[]): Promise<{ tokens: number[]; rows: Float32Array[] }> {
  const ctx = t.ctx;
  const V = t.config.vocabSize;
  let captured: Tensor | null = null;
  const choose: TokenChooser = (rec, logits, tokens) => {
    captured = ctx.empty('f32', logits.shape, 'captured logits');
    rec.copy(logits, captured, logits.byteLength);
    argmax(rec, { logits, tokens, rows: entries.length, vocab: V });
  };
  const tokens = await t.stepBatch(cache, entries, choose);
  const flat = await ctx.readF32(captured!);
  ctx.free(captured!);
  return { tokens, rows: entries.map((_, e) => flat.subarray(e * V, (e + 1) * V)) };
}
