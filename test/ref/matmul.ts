/** f64 CPU reference for matmul: C = alpha·op(A)·op(B) + bias + C0, written from the definition. */
export interface MatmulRefOptions {
  M: number;
  N: number;
  K: number;
  /** A is stored [K,M] (op(A) = Aᵀ); otherwise [M,K]. */
  transA?: boolean;
  /** B is stored [N,K] (op(B) = Bᵀ); otherwise [K,N]. */
  transB?: boolean;
  alpha?: number;
  /** [N], added to every row. */
  bias?: ArrayLike<number>;
  /** [M,N], the C that is accumulated into. */
  c0?: ArrayLike<number>;
}

/** Rows `rows` of C, concatenated ([rows.length, N]). */
export function matmulRefRows(a: ArrayLike<number>, b: ArrayLike<number>, o: MatmulRefOptions, rows: readonly number[]): Float64Array {
  const { M, N, K } = o;
  const alpha = o.alpha ?? 1;
  const opA = (m: number, k: number) => (o.transA ? a[k * M + m]! : a[m * K + k]!);
  const opB = (k: number, n: number) => (o.transB ? b[n * K + k]! : b[k * N + n]!);
  const out = new Float64Array(rows.length * N);
  rows.forEach((m, r) => {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += opA(m, k) * opB(k, n);
      out[r * N + n] = alpha * s + (o.bias ? o.bias[n]! : 0) + (o.c0 ? o.c0[m * N + n]! : 0);
    }
  });
  return out;
}

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, o: MatmulRefOptions): Float64Array {
  return matmulRefRows(
    a,
    b,
    o,
    Array.from({ length: o.M }, (_, m) => m),
  );
}

/**
 * Gradients of L = sum(C ⊙ G) for C = op(A)·op(B), in A's and B's storage layouts, each written as one more
 * matmul: the products a model's backward pass issues (dX = dY·W, dW = dYᵀ·X and their transposed forms).
 */
export function matmulGradRef(a: ArrayLike<number>, b: ArrayLike<number>, g: ArrayLike<number>, o: MatmulRefOptions) {
  const { M, N, K } = o;
  const transA = Boolean(o.transA),
    transB = Boolean(o.transB);
  // d op(A) = G·op(B)ᵀ [M,K]; stored transposed when transA: op(B)·Gᵀ [K,M].
  const dA = transA ? matmulRef(b, g, { M: K, N: M, K: N, transA: transB, transB: true }) : matmulRef(g, b, { M, N: K, K: N, transB: !transB });
  // d op(B) = op(A)ᵀ·G [K,N]; stored transposed when transB: Gᵀ·op(A) [N,K].
  const dB = transB ? matmulRef(g, a, { M: N, N: K, K: M, transA: true, transB: transA }) : matmulRef(a, g, { M: K, N, K: M, transA: !transA });
  return { dA, dB };
}

/**
 * C written as a column slice of a wider matrix: `wide` is [M, stride]; columns [col, col + N) become
 * alpha·op(A)·op(B) + bias[col + n] (+ their old value when accumulate), every other column keeps its value.
 * The bias, if any, has `stride` entries (it belongs to the wide matrix's columns).
 */
export function matmulColumnsRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  o: Omit<MatmulRefOptions, 'c0'> & { wide: ArrayLike<number>; stride: number; col: number; accumulate?: boolean },
): Float64Array {
  const { M, N, K, stride, col } = o;
  const alpha = o.alpha ?? 1;
  const out = Float64Array.from(o.wide);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (o.transA ? a[k * M + m]! : a[m * K + k]!) * (o.transB ? b[n * K + k]! : b[k * N + n]!);
      const i = m * stride + col + n;
      out[i] = alpha * s + (o.bias ? o.bias[col + n]! : 0) + (o.accumulate ? o.wide[i]! : 0);
    }
  }
  return out;
}

/** Where each operand lives inside a larger flat array (element counts), as matmul's offset arguments describe. */
export interface MatmulLayout {
  aOffset: number;
  /** Elements between A's storage rows. */
  aRowStride: number;
  bOffset: number;
  cOffset: number;
  cRowStride: number;
  cColumn: number;
}

/**
 * C = alpha·op(A)·op(B) + bias (+ C when accumulate) with every operand inside a larger flat array: A's storage
 * element (row, col) at a[aOffset + row·aRowStride + col], B's at b[bOffset + row·(B's row length) + col], C's
 * (m, n) at c[cOffset + m·cRowStride + cColumn + n] with bias[cColumn + n]. Returns the whole of c afterwards
 * (every element not addressed keeps its value).
 */
export function matmulLayoutRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ArrayLike<number>,
  o: Omit<MatmulRefOptions, 'c0'> & MatmulLayout & { accumulate?: boolean },
): Float64Array {
  const { M, N, K } = o;
  const alpha = o.alpha ?? 1;
  const bRowLen = o.transB ? K : N;
  const aStore = (row: number, col: number) => a[o.aOffset + row * o.aRowStride + col]!;
  const bStore = (row: number, col: number) => b[o.bOffset + row * bRowLen + col]!;
  const out = Float64Array.from(c);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (o.transA ? aStore(k, m) : aStore(m, k)) * (o.transB ? bStore(n, k) : bStore(k, n));
      const i = o.cOffset + m * o.cRowStride + o.cColumn + n;
      out[i] = alpha * s + (o.bias ? o.bias[o.cColumn + n]! : 0) + (o.accumulate ? c[i]! : 0);
    }
  }
  return out;
}
