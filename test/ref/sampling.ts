/**
 * f64 CPU reference for argmax and seeded sampling, written from Hugging Face's logits processors
 * (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, in that order) by sorting, and the Gumbel-max
 * draw with the same counter-based hash as the GPU.
 *
 * Row options: a token mask (u32 words, ceil(vocab / 32) per row, bit j set = token j allowed) removes the other
 * tokens before everything else (a constraint processor ahead of the warpers: their logits become -infinity); a row
 * with none allowed yields NO_TOKEN. streams[r] / steps[r] replace row r's stream id (r) and the call's step.
 */

export const NO_TOKEN = 0xffffffff;

export interface RowOptions {
  mask?: Uint32Array;
  streams?: ArrayLike<number>;
  steps?: ArrayLike<number>;
}

/** Which tokens of row r the mask allows (all when there is no mask). */
export function allowedRef(mask: Uint32Array | undefined, r: number, vocab: number): boolean[] {
  const words = Math.ceil(vocab / 32);
  return Array.from({ length: vocab }, (_, j) => !mask || Math.floor(mask[r * words + Math.floor(j / 32)]! / 2 ** (j % 32)) % 2 === 1);
}

export interface SamplingRefSettings {
  temperature: number;
  topK: number; // 0 = off
  topP: number; // 1 = off
  seed: number;
  step: number;
}

/** torch.argmax per row: the first index of the largest value (among the allowed ones; NO_TOKEN when none is). */
export function argmaxRef(logits: ArrayLike<number>, rows: number, vocab: number, mask?: Uint32Array): Uint32Array {
  const out = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    const allowed = allowedRef(mask, r, vocab);
    let best = -1;
    for (let i = 0; i < vocab; i++) if (allowed[i] && (best < 0 || logits[r * vocab + i]! > logits[r * vocab + best]!)) best = i;
    out[r] = best < 0 ? NO_TOKEN : best;
  }
  return out;
}

/** pcg4d (Jarzynski & Olano 2020) on u32 lanes. */
export function pcg4d(x: number, y: number, z: number, w: number): [number, number, number, number] {
  const lcg = (a: number) => (Math.imul(a, 1664525) + 1013904223) >>> 0;
  let [a, b, c, d] = [lcg(x), lcg(y), lcg(z), lcg(w)];
  const mix = () => {
    a = (a + Math.imul(b, d)) >>> 0;
    b = (b + Math.imul(c, a)) >>> 0;
    c = (c + Math.imul(a, b)) >>> 0;
    d = (d + Math.imul(b, c)) >>> 0;
  };
  mix();
  [a, b, c, d] = [a ^ (a >>> 16), b ^ (b >>> 16), c ^ (c >>> 16), d ^ (d >>> 16)];
  mix();
  return [a, b, c, d];
}

/** Standard Gumbel noise of token i in a stream (the row by default): -log(-log(1 - u)), u = (h + 1/2) / 2^32 capped below 1 as in f32. */
export function gumbelRef(i: number, stream: number, step: number, seed: number): number {
  const h = pcg4d(i, stream, step, seed)[0];
  const u = Math.min((h + 0.5) / 2 ** 32, 1 - 2 ** -24);
  return -Math.log(-Math.log1p(-u));
}

/**
 * Which tokens survive the mask, top-k and top-p at these settings (topP overridable, to probe its boundary).
 * Masked tokens count as -infinity: top-k's k-th largest score is taken over the allowed ones (when fewer than k are
 * allowed, the k-th is -infinity and every allowed token stays).
 */
export function keptRef(row: ArrayLike<number>, s: SamplingRefSettings, topP = s.topP, allowed?: boolean[]): boolean[] {
  const vocab = row.length;
  const kept = allowed ? [...allowed] : new Array<boolean>(vocab).fill(true);
  // TopKLogitsWarper: remove scores < the k-th largest score.
  const scores = Array.from(row).filter((_, i) => kept[i]);
  if (s.topK > 0 && s.topK < vocab && s.topK <= scores.length) {
    const kth = scores.sort((a, b) => b - a)[s.topK - 1]!;
    for (let i = 0; i < vocab; i++) kept[i] = kept[i]! && row[i]! >= kth;
  }
  // TopPLogitsWarper: in descending order, drop a token once the mass before it reaches topP. Equal logits are
  // one group (kept or dropped together): a group is kept when the mass of all larger logits is < topP.
  if (topP < 1) {
    const probs = softmaxRef(row, s.temperature, kept);
    let above = 0;
    for (const group of valueGroups(row, kept)) {
      const keep = above < topP || above === 0;
      for (const i of group) {
        kept[i] = keep;
        above += probs[i]!;
      }
    }
  }
  return kept;
}

/** softmax(x / temperature) over the kept tokens (0 elsewhere). */
export function softmaxRef(row: ArrayLike<number>, temperature: number, kept: boolean[]): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (kept[i]) max = Math.max(max, row[i]! / temperature);
  const p = new Float64Array(row.length);
  let z = 0;
  for (let i = 0; i < row.length; i++) if (kept[i]) z += p[i] = Math.exp(row[i]! / temperature - max);
  return p.map((v) => v / z);
}

/** The distribution sampling draws from: softmax over the tokens the mask and the processors keep. */
export function filteredProbsRef(row: ArrayLike<number>, s: SamplingRefSettings, allowed?: boolean[]): Float64Array {
  return softmaxRef(row, s.temperature, keptRef(row, s, s.topP, allowed));
}

/**
 * The sampled token of each row, and the tokens an f32 implementation may also return: where the winner's
 * Gumbel-perturbed score is within rounding of another token's, or where the top-p boundary lies within
 * TOP_P_SLACK of the mass of a group of tokens (then any winner for a top-p in [topP - slack, topP + slack]).
 */
export function sampleRef(logits: ArrayLike<number>, rows: number, vocab: number, s: SamplingRefSettings, opts: RowOptions = {}) {
  const tokens = new Uint32Array(rows);
  const acceptable: Set<number>[] = [];
  if (s.temperature === 0) {
    const t = argmaxRef(logits, rows, vocab, opts.mask);
    return { tokens: t, acceptable: Array.from(t, (x) => new Set([x])) };
  }
  for (let r = 0; r < rows; r++) {
    const row = Array.prototype.slice.call(logits, r * vocab, (r + 1) * vocab) as number[];
    const allowed = allowedRef(opts.mask, r, vocab);
    if (!allowed.includes(true)) {
      tokens[r] = NO_TOKEN;
      acceptable.push(new Set([NO_TOKEN]));
      continue;
    }
    const stream = opts.streams ? opts.streams[r]! : r;
    const step = opts.steps ? opts.steps[r]! : s.step;
    const score = row.map((x, i) => x / s.temperature + gumbelRef(i, stream, step, s.seed));
    const winner = (kept: boolean[]) => {
      let best = -1;
      for (let i = 0; i < vocab; i++) if (kept[i] && (best < 0 || score[i]! > score[best]!)) best = i;
      return best;
    };
    const kept = keptRef(row, s, s.topP, allowed);
    const token = winner(kept);
    tokens[r] = token;
    const ok = new Set([token]);
    const slack = 1e-5 * (1 + Math.abs(score[token]!));
    for (let i = 0; i < vocab; i++) if (kept[i] && score[i]! >= score[token]! - slack) ok.add(i);
    if (s.topP < 1) {
      // Between the sets kept at topP -/+ slack, add groups in descending order; each new record score wins.
      const lo = keptRef(row, s, s.topP - TOP_P_SLACK, allowed);
      const hi = keptRef(row, s, s.topP + TOP_P_SLACK, allowed);
      let best = winner(lo);
      ok.add(best);
      for (const group of valueGroups(row, hi)) {
        if (lo[group[0]!]) continue;
        const top = group.reduce((t, i) => (score[i]! > score[t]! ? i : t));
        if (score[top]! > score[best]!) {
          best = top;
          ok.add(best);
        }
      }
    }
    acceptable.push(ok);
  }
  return { tokens, acceptable };
}

/** Slack on top-p for f32 rounding of the probability masses. */
export const TOP_P_SLACK = 1e-4;

/** Indices of the kept tokens grouped by equal logit, largest logit first. */
function valueGroups(row: ArrayLike<number>, kept: boolean[]): number[][] {
  const idx: number[] = [];
  for (let i = 0; i < row.length; i++) if (kept[i]) idx.push(i);
  idx.sort((a, b) => row[b]! - row[a]! || a - b);
  const groups: number[][] = [];
  for (const i of idx) {
    const last = groups[groups.length - 1];
    if (last && row[last[0]!] === row[i]) last.push(i);
    else groups.push([i]);
  }
  return groups;
}
