/** SwiGLU gate of the Llama MLP: h = silu(gate) * up, on separate gate and up tensors [tokens, ffn] f32. */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { ceilDiv, expectDtype, expectNumel, expectPositiveInts } from './common.ts';

const WG = 256;

export interface SwigluForward {
  gate: Tensor; // [tokens, ffn] f32
  up: Tensor; // [tokens, ffn] f32
  h: Tensor; // [tokens, ffn] f32
  tokens: number;
  ffn: number;
}

export function swigluForward(rec: CommandRecorder, a: SwigluForward): void {
  dispatchSwiglu(rec, a.tokens, a.ffn, { gate: a.gate, up: a.up, h: a.h }, false);
}

export interface SwigluBackward {
  gate: Tensor;
  up: Tensor;
  dh: Tensor; // [tokens, ffn] f32
  dgate: Tensor; // [tokens, ffn] f32
  dup: Tensor; // [tokens, ffn] f32
  tokens: number;
  ffn: number;
}

/** dgate and dup from dh, recomputing sigmoid(gate) (nothing is saved by the forward). */
export function swigluBackward(rec: CommandRecorder, a: SwigluBackward): void {
  dispatchSwiglu(rec, a.tokens, a.ffn, { gate: a.gate, up: a.up, dh: a.dh, dgate: a.dgate, dup: a.dup }, true);
}

function dispatchSwiglu(rec: CommandRecorder, tokens: number, ffn: number, tensors: Record<string, Tensor>, backward: boolean): void {
  expectPositiveInts('swiglu', { tokens, ffn });
  const numel = tokens * ffn;
  const list = Object.entries(tensors);
  for (const [name, t] of list) {
    expectNumel(`swiglu.${name}`, t, numel);
    expectDtype(`swiglu.${name}`, t, 'f32');
  }
  for (const [name, t] of list.slice(backward ? 3 : 2)) {
    const clash = list.find(([other, o]) => other !== name && o.buffer === t.buffer);
    if (clash) throw new Error(`swiglu: output ${name} shares a buffer with ${clash[0]}`);
  }
  // vec4 loads when the length and every binding allow it (a vec4 array binding needs 16-byte offsets).
  const vec4 = numel % 4 === 0 && list.every(([, t]) => t.byteOffset % 16 === 0);
  const n = vec4 ? numel / 4 : numel;
  rec.dispatch({
    kernel: { shader: 'swiglu', defines: { BACKWARD: backward, VEC4: vec4 }, constants: { WG } },
    params: { n: ['u32', n] },
    bindings: tensors,
    workgroups: fold1d(ceilDiv(n, WG)),
    label: backward ? 'swiglu.backward' : 'swiglu',
  });
}
