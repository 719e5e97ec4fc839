/**
 * `npm run bench -- generate`: inference speed of random-weight models at the real Llama-3.2-1B and Qwen2.5-7B
 * shapes (bf16 weights, nothing downloaded), through the same path as `seal generate`: prefill tokens/s, decode
 * tokens/s at several batch sizes (one token per sequence per step, chosen on the GPU, read back each step as
 * in real generation), peak GPU memory, and decode against the memory-bandwidth roofline: a step must read every
 * weight once plus each sequence's KV cache, so step time >= bytes read / device bandwidth.
 * Wall-clock timing: what a user waits for, host work and the per-step readback included.
 */
import type { GpuContext } from '../src/gpu/context.ts';
import { parseModelConfig, type ModelConfig } from '../src/model/config.ts';
import type { KvCache } from '../src/model/kv-cache.ts';
import { weightBlocks, type WeightRef } from '../src/model/split-weight.ts';
import { syntheticCheckpoint } from '../src/model/synthetic-checkpoint.ts';
import { Transformer, type TokenChooser } from '../src/inference/transformer.ts';
import { loadWeights, type ModelWeights } from '../src/model/weights.ts';
import { argmax } from '../src/ops/sampling.ts';
import { devicePeak } from './peaks.ts';
import { HF_CONFIGS } from './shapes.ts';
import { now } from './timing.ts';

export interface GenerateBenchOptions {
  models: string[];
  /** Decoder layers to build (default: the model's); fewer layers make CPU adapters finish. */
  layers?: number;
  prefill: number[];
  batches: number[];
  /** Tokens already in each sequence's cache when decode is timed. */
  context: number;
  decodeSteps: number;
  /** Called with the results so far after each case (the caller saves them: a run cut short keeps its finished cases). */
  onProgress?: (results: GenerateResult[]) => void;
  log: (line: string) => void;
}

export interface GenerateResult {
  model: string;
  layers: number;
  /** Bytes of weights on the GPU. */
  weightBytes: number;
  loadSeconds: number;
  prefill: { tokens: number; ms: number; tokensPerSecond: number }[];
  decode: {
    batch: number;
    context: number;
    /** Pipelined decoding, as generateBatch runs it: each step submitted from the last one's tokens on the GPU. */
    msPerStep: number;
    tokensPerSecond: number;
    /** The same steps with the host waiting for every step's tokens before recording the next. */
    msPerStepWaited: number;
    /** msPerStepWaited / msPerStep: what pipelining gains. */
    pipelinedSpeedup: number;
    /** Weights + KV cache read per step. */
    bytesPerStep: number;
    /** Roofline step time (bytes / bandwidth) over the measured one; null when the device's bandwidth is unknown. */
    fractionOfRoofline: number | null;
    /** Tokens/s over batch 1's tokens/s (the steering goal on H100: >= 10 at batch 32); null without a batch-1 case. */
    throughputOverBatch1: number | null;
  }[];
  /** Most bytes the buffer pool held at once while the model was built and run. */
  peakGpuBytes: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function randomIds(n: number, vocab: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => (Math.imul(i + 1, 2654435761) ^ Math.imul(salt + 1, 40503)) >>> 0).map((x) => x % vocab);
}

const refBytes = (ref: WeightRef) => weightBlocks(ref).reduce((n, b) => n + b.tensor.byteLength, 0);

function tensorBytes(weights: ModelWeights): number {
  let total = 0;
  for (const ref of weights.tensors.values()) total += refBytes(ref);
  return total;
}

/** Weight bytes one decode step reads: every tensor but the embedding table (one row per token), which an untied model only gathers from. */
function weightBytesPerStep(config: ModelConfig, weights: ModelWeights): number {
  const embed = refBytes(weights.ref('model.embed_tokens.weight'));
  return tensorBytes(weights) - (config.tieWordEmbeddings ? 0 : embed);
}

async function benchModel(ctx: GpuContext, name: string, o: GenerateBenchOptions, progress: (r: GenerateResult) => void): Promise<GenerateResult> {
  const hf = HF_CONFIGS[name];
  if (!hf) throw new Error(`bench generate: unknown model '${name}' (available: ${Object.keys(HF_CONFIGS).join(', ')})`);
  const config = parseModelConfig({ ...hf, num_hidden_layers: o.layers ?? hf.num_hidden_layers });
  ctx.pool.trim();
  ctx.pool.peakBytes = ctx.pool.allocatedBytes;
  const base = ctx.pool.allocatedBytes;
  const t0 = now();
  const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16' });
  const weights = await loadWeights(ctx, config, source, header);
  await ctx.sync();
  const loadSeconds = (now() - t0) / 1e3;
  const model = new Transformer(ctx, config, weights);
  const V = config.vocabSize;
  const greedy: TokenChooser = (rec, logits, tokens) => argmax(rec, { logits, tokens, rows: tokens.numel, vocab: V });
  const weightBytes = tensorBytes(weights);
  o.log(`${name}: ${config.numLayers} layers, ${(weightBytes / 2 ** 30).toFixed(2)} GiB of bf16 weights built in ${loadSeconds.toFixed(1)} s`);
  const result: GenerateResult = { model: name, layers: config.numLayers, weightBytes, loadSeconds, prefill: [], decode: [], peakGpuBytes: 0 };
  const bandwidth = devicePeak(ctx.caps.adapter.description)?.bandwidthGBs ?? null;
  let cache: KvCache | null = null;
  try {
    // Warm-up: compiles every pipeline prefill and decode use.
    cache = model.createCache(16, 2);
    await model.stepBatch(
      cache,
      [
        { slot: 0, ids: randomIds(9, V, 0) },
        { slot: 1, ids: randomIds(3, V, 1) },
      ],
      greedy,
    );
    await model.stepBatch(
      cache,
      [
        { slot: 0, ids: [1] },
        { slot: 1, ids: [2] },
      ],
      greedy,
    );
    cache.dispose();
    cache = null;

    for (const P of o.prefill) {
      cache = model.createCache(P, 1);
      const times: number[] = [];
      for (let rep = 0; rep < 3; rep++) {
        cache.reset();
        const ids = randomIds(P, V, rep);
        const t = now();
        await model.stepBatch(cache, [{ slot: 0, ids }], greedy);
        times.push(now() - t);
        if (times[0]! > 20_000) break; // software adapters: one slow run says enough
      }
      cache.dispose();
      cache = null;
      const ms = median(times);
      result.prefill.push({ tokens: P, ms, tokensPerSecond: (P / ms) * 1e3 });
      progress(result);
      o.log(`  prefill ${String(P).padStart(5)} tokens: ${ms.toFixed(1).padStart(9)} ms  ${((P / ms) * 1e3).toFixed(1).padStart(9)} tok/s`);
    }

    const kvRowBytes = config.numKvHeads * config.headDim * 4;
    for (const B of o.batches) {
      const slots = Array.from({ length: B }, (_, b) => b);
      // Each mode on a fresh cache after the same prompts: `steps` decode steps, timed.
      const decode = async (pipelined: boolean): Promise<number> => {
        cache = model.createCache(o.context + o.decodeSteps + 1, B);
        let last = await model.stepBatch(
          cache,
          slots.map((slot) => ({ slot, ids: randomIds(o.context, V, 100 + slot) })),
          greedy,
        );
        const t = now();
        if (!pipelined) {
          for (let s = 0; s < o.decodeSteps; s++)
            last = await model.stepBatch(
              cache,
              slots.map((slot) => ({ slot, ids: [last[slot]!] })),
              greedy,
            );
        } else {
          // One step in flight, as generateBatch runs: submit step s + 1 from step s's tokens, then read step s's.
          let tokens = model.launchStep(
            cache,
            slots.map((slot) => ({ slot, ids: [last[slot]!] })),
            greedy,
          );
          let read = ctx.read(tokens);
          for (let s = 1; s < o.decodeSteps; s++) {
            const next = model.launchStep(
              cache,
              slots.map((slot) => ({ slot, ids: [0] })),
              greedy,
              tokens,
            );
            await read;
            ctx.free(tokens);
            tokens = next;
            read = ctx.read(tokens);
          }
          await read;
          ctx.free(tokens);
        }
        const ms = (now() - t) / o.decodeSteps;
        cache.dispose();
        cache = null;
        return ms;
      };
      const msPerStepWaited = await decode(false);
      const msPerStep = await decode(true);
      const meanContext = o.context + o.decodeSteps / 2;
      const bytesPerStep = weightBytesPerStep(config, weights) + B * meanContext * kvRowBytes * 2 * config.numLayers;
      const fractionOfRoofline = bandwidth ? bytesPerStep / (bandwidth * 1e9) / (msPerStep / 1e3) : null;
      const tokensPerSecond = (B / msPerStep) * 1e3;
      const batch1 = result.decode.find((d) => d.batch === 1);
      const throughputOverBatch1 = batch1 ? tokensPerSecond / batch1.tokensPerSecond : null;
      const pipelinedSpeedup = msPerStepWaited / msPerStep;
      result.decode.push({
        batch: B,
        context: o.context,
        msPerStep,
        tokensPerSecond,
        msPerStepWaited,
        pipelinedSpeedup,
        bytesPerStep,
        fractionOfRoofline,
        throughputOverBatch1,
      });
      progress(result);
      const roof = fractionOfRoofline === null ? '' : `  ${(100 * fractionOfRoofline).toFixed(1).padStart(5)}% of the bandwidth roofline`;
      const ratio = throughputOverBatch1 === null || B === 1 ? '' : `  ${throughputOverBatch1.toFixed(2)}x batch 1`;
      o.log(
        `  decode batch ${String(B).padStart(3)}: ${msPerStep.toFixed(2).padStart(9)} ms/step ${tokensPerSecond.toFixed(1).padStart(9)} tok/s${roof}${ratio}  (waiting for each step: ${pipelinedSpeedup.toFixed(2)}x slower)`,
      );
    }
  } finally {
    cache?.dispose();
    result.peakGpuBytes = ctx.pool.peakBytes - base;
    model.dispose();
    weights.dispose();
    ctx.pool.trim();
  }
  o.log(`  peak GPU memory ${(result.peakGpuBytes / 2 ** 30).toFixed(2)} GiB`);
  return result;
}

export async function generateBench(ctx: GpuContext, o: GenerateBenchOptions): Promise<GenerateResult[]> {
  const out: GenerateResult[] = [];
  for (const name of o.models) out.push(await benchModel(ctx, name, o, (current) => o.onProgress?.([...out, current])));
  return out;
}
