/**
 * The SFT benchmark's FLOP formula (bench/sft-flops.ts) against an independent count: every matmul and attention
 * dispatch one benchmark step (SftRunner.step) records, on tiny random models. Matmuls count 2·M·N·K from their
 * dispatch params; attention counts its causal (query, key) pairs from the packing, one by one (forward 2
 * products, backward 5, 2·D each per pair and head). The dispatches are counted, not run: the count needs only
 * what the step records, and compiling its ~25 kernels would take lavapipe a minute (the benchmark itself checks
 * the same count on the real step: matmulFlopsRecordedOverFormula). The LoRA targets are the benchmark's own.
 */
import { describe, expect, it } from 'vitest';
import type { Dispatch } from '../../src/gpu/recorder.ts';
import { CommandRecorder } from '../../src/gpu/recorder.ts';
import { parseModelConfig, type ModelConfig } from '../../src/model/config.ts';
import { syntheticCheckpoint } from '../../src/model/synthetic-checkpoint.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { sftStepFlops } from '../../bench/sft-flops.ts';
import { parseShape, SFT_SETUPS, sftCases, SftRunner, type SftCase } from '../../bench/sft.ts';
import { testContext } from '../harness/context.ts';

/** in != out for every projection (H 32, F 44, KV 16), so a formula that swapped them would fail; 3 layers: layer 0 is special. */
const TINY = { hidden_size: 32, intermediate_size: 44, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, vocab_size: 97, num_hidden_layers: 3 };
const LLAMA_TINY = { architectures: ['LlamaForCausalLM'], rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true, ...TINY };
const QWEN2_TINY = { architectures: ['Qwen2ForCausalLM'], rms_norm_eps: 1e-6, rope_theta: 1e6, tie_word_embeddings: false, ...TINY };

/** Matmul and attention FLOPs of every dispatch recorded while `work` runs (the dispatches are dropped). */
async function countRecorded(work: () => Promise<unknown>, pairs: number): Promise<{ matmul: number; attention: number }> {
  const counted = { matmul: 0, attention: 0 };
  const dispatch = CommandRecorder.prototype.dispatch;
  CommandRecorder.prototype.dispatch = function (this: CommandRecorder, d: Dispatch) {
    const p = (name: string) => d.params![name]![1];
    if (d.kernel.shader.startsWith('matmul')) counted.matmul += 2 * p('M') * p('N') * p('K');
    // One attention backward is the dq dispatch plus the dk/dv one.
    if (d.label === 'attention forward') counted.attention += 2 * (2 * p('head_dim') * pairs * p('hq'));
    if (d.label === 'attention dq') counted.attention += 5 * (2 * p('head_dim') * pairs * p('hq'));
  };
  try {
    await work();
  } finally {
    CommandRecorder.prototype.dispatch = dispatch;
  }
  return counted;
}

/** Causal pairs (t, j), j <= t in t's own sequence, of `count` packed sequences of `length` tokens, one by one. */
function causalPairs(count: number, length: number): number {
  let pairs = 0;
  for (let s = 0; s < count; s++) for (let t = 0; t < length; t++) for (let j = 0; j <= t; j++) pairs++;
  return pairs;
}

async function checkCase(
  hf: Record<string, unknown>,
  setup: keyof typeof SFT_SETUPS,
  c: Pick<SftCase, 'adapters' | 'mode' | 'recompute' | 'seqLen' | 'sequencesPerAdapter'> & { precision?: SftCase['precision'] },
) {
  const ctx = await testContext();
  const config: ModelConfig = parseModelConfig(hf);
  const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16', seed: 7 });
  const weights = await loadWeights(ctx, config, source, header);
  const lora = { targets: SFT_SETUPS[setup]!.targets, rank: 4, alpha: 8, dropout: 0 as const };
  const runner = new SftRunner(ctx, config, weights, { precision: 'f32', ...c, lora, learningRate: 1e-3, maxGradNorm: 1 });
  try {
    // One attention call covers one pass's sequences: all K adapters' when fused.
    const pairs = causalPairs(c.sequencesPerAdapter * (c.mode === 'fused' ? c.adapters : 1), c.seqLen);
    const counted = await countRecorded(() => runner.step(), pairs);
    const f = sftStepFlops({ config, lora, sequenceLengths: Array(c.sequencesPerAdapter).fill(c.seqLen) });
    const what = `${setup}-like, K=${c.adapters} ${c.mode}, recompute ${c.recompute}, ${c.precision ?? 'f32'}`;
    expect(counted.matmul + counted.attention, `${what}: recorded FLOPs`).toBe(c.adapters * (f.total + (c.recompute ? f.recompute : 0)));
    if (!c.recompute) expect(counted.attention, `${what}: attention FLOPs`).toBe(c.adapters * (f.attentionForward + f.attentionBackward));
    expect(f.recompute, `${what}: recomputation costs something`).toBeGreaterThan(0);
  } finally {
    runner.dispose();
    weights.dispose();
  }
}

describe('bench sft FLOP formula', () => {
  it('equals the recorded matmuls and attention of a Llama-like step (rank on q,v,gate,up,down), without recomputation', async () => {
    await checkCase(LLAMA_TINY, 'Llama-3.2-1B', { adapters: 1, mode: 'single', recompute: false, seqLen: 21, sequencesPerAdapter: 2 });
  });

  it('with recomputation, K = 2 sequential adapters: K times one adapter plus the recomputed forwards', async () => {
    await checkCase(LLAMA_TINY, 'Llama-3.2-1B', { adapters: 2, mode: 'sequential', recompute: true, seqLen: 9, sequencesPerAdapter: 5 });
  });

  it('K = 3 adapters fused in one pass: the same FLOPs as three single-adapter steps', async () => {
    await checkCase(LLAMA_TINY, 'Llama-3.2-1B', { adapters: 3, mode: 'fused', recompute: false, seqLen: 13, sequencesPerAdapter: 2 });
  });

  it('equals the recorded step of a Qwen2-like model (q/k/v biases, untied head, rank on q,v), alone and fused (mixed precision), with recomputation', async () => {
    await checkCase(QWEN2_TINY, 'Qwen2.5-7B', { adapters: 1, mode: 'single', recompute: true, seqLen: 37, sequencesPerAdapter: 1 });
    // Mixed precision adds the abs-max scale dispatches, which are no FLOPs of the model.
    await checkCase(QWEN2_TINY, 'Qwen2.5-7B', { adapters: 2, mode: 'fused', recompute: true, seqLen: 19, sequencesPerAdapter: 2, precision: 'mixed' });
  });

  it('lists one case per adapter count, mode and precision; rejects a bad --shape and an unknown model with clear errors', () => {
    expect(() => parseShape('hidden=256')).toThrow(/--shape: 'hidden=256' is not KEY=positive integer/);
    expect(() => parseShape('hidden_size=0')).toThrow(/--shape/);
    expect(parseShape('hidden_size=256, vocab_size=4096')).toEqual({ hidden_size: 256, vocab_size: 4096 });
    const o = {
      sequencesPerAdapter: 1,
      adapterCounts: [1, 8],
      adapterModes: ['fused', 'sequential'] as ('fused' | 'sequential')[],
      recompute: false,
      steps: 1,
      precisions: ['f32'] as SftCase['precision'][],
    };
    expect(sftCases({ ...o, models: ['Qwen2.5-7B'] }).map((c) => `${c.adapters} ${c.mode}`)).toEqual(['1 single', '8 fused', '8 sequential']);
    expect(
      sftCases({ ...o, models: ['Qwen2.5-7B'], adapterCounts: [1, 8], adapterModes: ['fused'], precisions: ['f32', 'mixed'] }).map(
        (c) => `${c.adapters} ${c.mode} ${c.precision}`,
      ),
    ).toEqual(['1 single f32', '1 single mixed', '8 fused f32', '8 fused mixed']);
    expect(() => sftCases({ ...o, models: ['Llama-7B'] })).toThrow(/unknown model 'Llama-7B'/);
    expect(() => sftCases({ ...o, models: ['Qwen2.5-7B'], shape: { num_attention_heads: 5 } })).toThrow(/model config/);
  });
});
