/**
 * A per-lane CPU simulation of shaders/matmul_subgroup_matrix.wgsl for the 8x8x8 f16 -> f32 configuration, which no
 * test machine runs on a GPU (lavapipe and SwiftShader offer no subgroup matrices). Every invocation of every
 * workgroup performs the shader's loads, stashes, fragment loads, multiply-accumulates and epilogue in barrier
 * phases, with the shader's index arithmetic transcribed line by line; the simulation also checks what a GPU would
 * not report: workgroup-memory accesses out of bounds (fragment loads read offset + stride·rows, hence the arrays'
 * slack), two invocations stashing the same element in one phase, and C elements written twice or never. Results
 * are compared with the f64 product of the f16-rounded operands on random unaligned sizes, every transpose.
 * The shader's layout constants are read from its source, so a change there that the transcription misses fails here.
 */
import { describe, expect, it } from 'vitest';
import { roundTo } from '../../src/gpu/dtype.ts';
import { shaderSource } from '../../src/gpu/wgsl.ts';
import { expectClose, freshSeed, randn, rng, TOL } from '../harness/numerics.ts';
import { matmulRef } from '../ref/matmul.ts';

const SOURCE = shaderSource('matmul_subgroup_matrix');

/** A `const NAME: u32 = <n>u;` of the shader. */
function constant(name: string): number {
  const m = SOURCE.match(new RegExp(`const ${name}: u32 = (\\d+)u;`));
  if (!m) throw new Error(`matmul_subgroup_matrix.wgsl has no numeric const ${name}`);
  return Number(m[1]);
}

interface Layout {
  FM: number;
  FN: number;
  FK: number;
  SUBGROUPS: number;
  SG_COLS: number;
  FRAG_ROWS: number;
  FRAG_COLS: number;
  BM: number;
  BN: number;
  BK: number;
  WG: number;
  AS: number;
  BS: number;
  OS: number;
}

/** The shader's derived constants, for a config and subgroup size (the formulas are checked against its source). */
function layout(FM: number, FN: number, FK: number, SG: number): Layout {
  const SUBGROUPS = constant('SUBGROUPS');
  const SG_COLS = constant('SG_COLS');
  const FRAG_ROWS = constant('FRAG_ROWS');
  const FRAG_COLS = constant('FRAG_COLS');
  const BK = 2 * FK;
  const BN = SG_COLS * FRAG_COLS * FN;
  return {
    FM,
    FN,
    FK,
    SUBGROUPS,
    SG_COLS,
    FRAG_ROWS,
    FRAG_COLS,
    BM: (SUBGROUPS / SG_COLS) * FRAG_ROWS * FM,
    BN,
    BK,
    WG: SUBGROUPS * SG,
    AS: BK + 8,
    BS: BN + 8,
    OS: FN + 4,
  };
}

interface Problem {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  a: Float32Array;
  b: Float32Array;
  alpha: number;
  bias: Float32Array;
  c0: Float32Array;
}

/** Workgroup memory that fails on an access outside it, and on two writes to one element within a phase. */
class Shared {
  readonly data: Float32Array;
  private writer: Int32Array;
  constructor(
    readonly name: string,
    length: number,
  ) {
    this.data = new Float32Array(length);
    this.writer = new Int32Array(length).fill(-1);
  }
  get(i: number): number {
    if (!(i >= 0 && i < this.data.length)) throw new Error(`${this.name}[${i}] read out of bounds (length ${this.data.length})`);
    return this.data[i]!;
  }
  set(i: number, v: number, invocation: number): void {
    if (!(i >= 0 && i < this.data.length)) throw new Error(`${this.name}[${i}] written out of bounds (length ${this.data.length})`);
    const w = this.writer[i]!;
    if (w >= 0 && w !== invocation) throw new Error(`${this.name}[${i}] written by invocations ${w} and ${invocation} in one phase`);
    this.writer[i] = invocation;
    this.data[i] = v;
  }
  /** A barrier: the next phase's writes race only with each other. */
  barrier(): void {
    this.writer.fill(-1);
  }
  /** subgroupMatrixLoad's own bounds check: offset + stride·rows must lie within the array. */
  fragment(offset: number, stride: number, rows: number, cols: number): number[][] {
    if (offset + stride * rows > this.data.length)
      throw new Error(`${this.name}: fragment at ${offset} stride ${stride} x ${rows} rows passes its end ${this.data.length}`);
    return Array.from({ length: rows }, (_, r) => Array.from({ length: cols }, (_, c) => this.get(offset + r * stride + c)));
  }
}

const f16 = (x: number) => roundTo([x], 'f16')[0]!;

/** Runs the shader for every workgroup and invocation; sgSize is the subgroup size the adapter chose (<= SG). */
function simulate(p: Problem, L: Layout, sgSize: number): Float32Array {
  const { M, N, K } = p;
  const { FM, FN, FK, BM, BN, BK, WG, AS, BS, OS, SUBGROUPS, SG_COLS, FRAG_ROWS, FRAG_COLS } = L;
  const A_CHUNKS = (BM * BK) / 4;
  const B_CHUNKS = (BN * BK) / 8;
  const A_LOADS = Math.ceil(A_CHUNKS / WG);
  const B_LOADS = Math.ceil(B_CHUNKS / WG);
  const c = Float32Array.from(p.c0);
  const written = new Uint8Array(M * N);

  // matmul_io.wgsl: storage shapes, loads with zeros outside, the epilogue.
  const aShape = p.transA ? [K, M] : [M, K];
  const bShape = p.transB ? [N, K] : [K, N];
  const loadA4 = (row: number, col: number) => [0, 1, 2, 3].map((j) => (row < aShape[0]! && col + j < aShape[1]! ? p.a[row * aShape[1]! + col + j]! : 0));
  const loadB8 = (row: number, col: number) =>
    Array.from({ length: 8 }, (_, j) => (row < bShape[0]! && col + j < bShape[1]! ? p.b[row * bShape[1]! + col + j]! : 0));
  const storeC = (m: number, n: number, v: number) => {
    if (written[m * N + n]) throw new Error(`C[${m}, ${n}] written twice`);
    written[m * N + n] = 1;
    c[m * N + n] = Math.fround(Math.fround(Math.fround(p.alpha * v) + p.bias[n]!) + c[m * N + n]!);
  };

  for (let wy = 0; wy < Math.ceil(M / (8 * FM)); wy++) {
    for (let wx = 0; wx < Math.ceil(N / (8 * FN)); wx++) {
      const m0 = wy * BM;
      const n0 = wx * BN;
      const aTile = new Shared('a_tile', BM * AS + BK);
      const bTile = new Shared('b_tile', BK * BS + BN);
      const cStage = new Shared('c_stage', SUBGROUPS * FM * OS + FN);
      const fetchA = (q: number, k0: number) =>
        p.transA ? loadA4(k0 + Math.floor(q / (BM / 4)), m0 + (q % (BM / 4)) * 4) : loadA4(m0 + Math.floor(q / (BK / 4)), k0 + (q % (BK / 4)) * 4);
      const fetchB = (q: number, k0: number) =>
        p.transB ? loadB8(n0 + Math.floor(q / (BK / 8)), k0 + (q % (BK / 8)) * 8) : loadB8(k0 + Math.floor(q / (BN / 8)), n0 + (q % (BN / 8)) * 8);
      const stashA = (q: number, v: number[], lid: number) => {
        if (p.transA) {
          const k = Math.floor(q / (BM / 4));
          const m = (q % (BM / 4)) * 4;
          for (let j = 0; j < 4; j++) aTile.set((m + j) * AS + k, f16(v[j]!), lid);
        } else {
          const m = Math.floor(q / (BK / 4));
          const k = (q % (BK / 4)) * 4;
          for (let j = 0; j < 4; j++) aTile.set(m * AS + k + j, f16(v[j]!), lid);
        }
      };
      const stashB = (q: number, v: number[], lid: number) => {
        if (p.transB) {
          const n = Math.floor(q / (BK / 8));
          const k = (q % (BK / 8)) * 8;
          for (let j = 0; j < 8; j++) bTile.set((k + j) * BS + n, f16(v[j]!), lid);
        } else {
          const k = Math.floor(q / (BN / 8));
          const n = (q % (BN / 8)) * 8;
          for (let j = 0; j < 8; j++) bTile.set(k * BS + n + j, f16(v[j]!), lid);
        }
      };

      // Per invocation: its prefetch registers; per subgroup with tiles: FRAG_ROWS x FRAG_COLS result fragments.
      const subgroups = Math.ceil(WG / sgSize);
      const acc = Array.from({ length: subgroups }, () =>
        Array.from({ length: FRAG_ROWS * FRAG_COLS }, () => Array.from({ length: FM }, () => new Float64Array(FN))),
      );
      const aNext = Array.from({ length: WG }, () => Array<number[]>(A_LOADS));
      const bNext = Array.from({ length: WG }, () => Array<number[]>(B_LOADS));
      const prefetch = (k0: number) => {
        for (let lid = 0; lid < WG; lid++) {
          for (let i = 0; i < A_LOADS; i++) if (lid + i * WG < A_CHUNKS) aNext[lid]![i] = fetchA(lid + i * WG, k0);
          for (let i = 0; i < B_LOADS; i++) if (lid + i * WG < B_CHUNKS) bNext[lid]![i] = fetchB(lid + i * WG, k0);
        }
      };
      prefetch(0);
      const tiles = Math.ceil(K / BK);
      for (let t = 0; t < tiles; t++) {
        aTile.barrier();
        bTile.barrier();
        for (let lid = 0; lid < WG; lid++) {
          for (let i = 0; i < A_LOADS; i++) if (lid + i * WG < A_CHUNKS) stashA(lid + i * WG, aNext[lid]![i]!, lid);
          for (let i = 0; i < B_LOADS; i++) if (lid + i * WG < B_CHUNKS) stashB(lid + i * WG, bNext[lid]![i]!, lid);
        }
        aTile.barrier();
        bTile.barrier();
        if (t + 1 < tiles) prefetch((t + 1) * BK);
        for (let sg = 0; sg < subgroups; sg++) {
          if (sg >= SUBGROUPS) continue; // has_tiles
          const sgM = Math.floor(sg / SG_COLS) * FRAG_ROWS * FM;
          const sgN = (sg % SG_COLS) * FRAG_COLS * FN;
          for (let ks = 0; ks < BK; ks += FK) {
            const left = [0, 1].map((i) => aTile.fragment((sgM + i * FM) * AS + ks, AS, FM, FK));
            for (let j = 0; j < FRAG_COLS; j++) {
              const right = bTile.fragment(ks * BS + sgN + j * FN, BS, FK, FN);
              for (let i = 0; i < FRAG_ROWS; i++) {
                const frag = acc[sg]![i * FRAG_COLS + j]!;
                for (let r = 0; r < FM; r++) {
                  for (let col = 0; col < FN; col++) {
                    let s = frag[r]![col]!;
                    for (let k = 0; k < FK; k++) s = Math.fround(s + left[i]![r]![k]! * right[k]![col]!);
                    frag[r]![col] = s;
                  }
                }
              }
            }
          }
        }
      }

      // emit, in the shader's order (acc00..acc03, acc10..acc13): store each fragment, then the lanes write C.
      for (let i = 0; i < FRAG_ROWS; i++) {
        for (let j = 0; j < FRAG_COLS; j++) {
          cStage.barrier();
          for (let sg = 0; sg < Math.min(subgroups, SUBGROUPS); sg++) {
            const base = sg * FM * OS;
            cStage.fragment(base, OS, FM, FN); // subgroupMatrixStore's bounds
            const frag = acc[sg]![i * FRAG_COLS + j]!;
            for (let r = 0; r < FM; r++) for (let col = 0; col < FN; col++) cStage.set(base + r * OS + col, frag[r]![col]!, sg * sgSize);
          }
          for (let sg = 0; sg < Math.min(subgroups, SUBGROUPS); sg++) {
            const base = sg * FM * OS;
            const row0 = m0 + Math.floor(sg / SG_COLS) * FRAG_ROWS * FM + i * FM;
            const col0 = n0 + (sg % SG_COLS) * FRAG_COLS * FN + j * FN;
            for (let lane = 0; lane < sgSize; lane++) {
              for (let e = lane; e < FM * FN; e += sgSize) {
                const r = Math.floor(e / FN);
                const col = e % FN;
                if (row0 + r < M && col0 + col < N) storeC(row0 + r, col0 + col, cStage.get(base + r * OS + col));
              }
            }
          }
        }
      }
    }
  }
  const missing = written.indexOf(0);
  if (missing >= 0) throw new Error(`C[${Math.floor(missing / N)}, ${missing % N}] never written`);
  return c;
}

describe('subgroup-matrix kernel, simulated per lane on the CPU (8x8x8 f16 -> f32)', () => {
  it("the transcribed layout is the shader's", () => {
    // The formulas the simulation uses, as they stand in the source.
    for (const line of [
      'const BM: u32 = (SUBGROUPS / SG_COLS) * FRAG_ROWS * FM;',
      'const BN: u32 = SG_COLS * FRAG_COLS * FN;',
      'const BK: u32 = 2u * FK;',
      'const WG: u32 = SUBGROUPS * SG;',
      'const AS: u32 = BK + 8u;',
      'const BS: u32 = BN + 8u;',
      'const OS: u32 = FN + 4u;',
      'var<workgroup> a_tile: array<f16, BM * AS + BK>;',
      'var<workgroup> b_tile: array<f16, BK * BS + BN>;',
      'var<workgroup> c_stage: array<f32, SUBGROUPS * FM * OS + FN>;',
      // The index arithmetic of the loads, stashes, fragments and epilogue.
      'return load_a4(k0 + q / (BM / 4u), m0 + (q % (BM / 4u)) * 4u);',
      'return load_a4(m0 + q / (BK / 4u), k0 + (q % (BK / 4u)) * 4u);',
      'for (var j = 0u; j < 4u; j++) { a_tile[(m + j) * AS + k] = f16(v[j]); }',
      'for (var j = 0u; j < 4u; j++) { a_tile[m * AS + k + j] = f16(v[j]); }',
      'return load_b8(n0 + q / (BK / 8u), k0 + (q % (BK / 8u)) * 8u);',
      'return load_b8(k0 + q / (BN / 8u), n0 + (q % (BN / 8u)) * 8u);',
      'b_tile[(k + j) * BS + n] = f16(v.lo[j]);',
      'b_tile[k * BS + n + 4u + j] = f16(v.hi[j]);',
      'let sg_m = (sg / SG_COLS) * FRAG_ROWS * FM;',
      'let sg_n = (sg % SG_COLS) * FRAG_COLS * FN;',
      '(&a_tile, sg_m * AS + ks, AS);',
      '(&a_tile, (sg_m + FM) * AS + ks, AS);',
      '(&b_tile, ks * BS + sg_n + 3u * FN, BS);',
      'subgroupMatrixStore<row_major>(&c_stage, base, frag, OS);',
      'if (row0 + r < p.M && col0 + col < p.N) { store_c(row0 + r, col0 + col, c_stage[base + r * OS + col]); }',
    ]) {
      expect(SOURCE, line).toContain(line);
    }
    expect(layout(8, 8, 8, 32)).toMatchObject({ BM: 64, BN: 64, BK: 16, WG: 256 });
  });

  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [67, 133, 129],
    [129, 71, 37],
    [64, 64, 32],
  ];
  for (const sgSize of [32, 16]) {
    it(`equals the f64 product of the f16-rounded operands on unaligned sizes, every transpose (subgroups of ${sgSize})`, () => {
      const seed = freshSeed();
      const r = rng(seed);
      const L = layout(8, 8, 8, 32);
      for (const [M, N, K] of shapes) {
        for (const [transA, transB] of [
          [false, false],
          [false, true],
          [true, false],
          [true, true],
        ] as const) {
          const p: Problem = { M, N, K, transA, transB, a: randn(M * K, r), b: randn(K * N, r, 0.5), alpha: 0.37, bias: randn(N, r), c0: randn(M * N, r) };
          const got = simulate(p, L, sgSize);
          const what = `${M}x${N}x${K}${transA ? ' transA' : ''}${transB ? ' transB' : ''} (seed ${seed})`;
          // The same rounding as the kernel: only the f32 sums differ from the f64 product.
          const exact = matmulRef(roundTo(p.a, 'f16'), roundTo(p.b, 'f16'), p);
          expectClose(got, exact, TOL.f32, `${what} vs f16-rounded operands`);
          expectClose(got, matmulRef(p.a, p.b, p), TOL.half, `${what} vs the exact product`);
        }
      }
    });
  }

  it('catches a layout error: a right fragment read one column off fails', () => {
    const r = rng(7);
    const p: Problem = {
      M: 20,
      N: 70,
      K: 19,
      transA: false,
      transB: true,
      a: randn(20 * 19, r),
      b: randn(70 * 19, r),
      alpha: 1,
      bias: new Float32Array(70),
      c0: new Float32Array(20 * 70),
    };
    const good = simulate(p, layout(8, 8, 8, 32), 32);
    expectClose(good, matmulRef(roundTo(p.a, 'f16'), roundTo(p.b, 'f16'), p), TOL.f32);
    // A B-tile row stride short of a row (BN - 1): rows overlap, as a wrong stride in the shader would make them;
    // the simulation reports the race, or the result is wrong.
    expect(() => expectClose(simulate(p, { ...layout(8, 8, 8, 32), BS: layout(8, 8, 8, 32).BN - 1 }, 32), good, TOL.half)).toThrow(
      /written by invocations|NMSE/,
    );
    // A fragment advancing K by FK - 1: the sum is wrong.
    expect(() => expectClose(simulate(p, { ...layout(8, 8, 8, 32), FK: 7 }, 32), good, TOL.half)).toThrow();
  });
});
