/**
 * The contract between a kernel's WGSL and the TypeScript that dispatches it: the fields of `struct Params` (names,
 * scalar types, order: the recorder packs params as 4-byte scalars in struct order into @binding(0)) and the storage
 * bindings (@binding(1..n), in the order the dispatch lists its tensors). The dispatch names both sides, and the
 * recorder checks them against the preprocessed WGSL the first time it uses each pipeline, so a reordered,
 * renamed or missing field or binding fails at once with the names, instead of computing garbage.
 */

export type ParamType = 'u32' | 'i32' | 'f32';

export interface KernelBinding {
  index: number;
  name: string;
  /** 'uniform', 'read' or 'read_write'. */
  access: 'uniform' | 'read' | 'read_write';
}

export interface KernelContract {
  /** Fields of `struct Params` in order; empty when the kernel has none. */
  params: { name: string; type: string }[];
  /** Every @group(0) binding, by index. */
  bindings: KernelBinding[];
}

/** Reads the contract of preprocessed WGSL (after src/gpu/wgsl.ts: no #if left, one variant). */
export function parseKernelContract(wgsl: string): KernelContract {
  const code = wgsl.replace(/\/\/.*$/gm, '');
  const params: KernelContract['params'] = [];
  const struct = /struct\s+Params\s*\{([^}]*)\}/.exec(code);
  if (struct) {
    for (const field of struct[1]!.split(',')) {
      const m = /^\s*(\w+)\s*:\s*([\w<>, ]+?)\s*$/.exec(field);
      if (m) params.push({ name: m[1]!, type: m[2]! });
      else if (field.trim() !== '') throw new Error(`kernel contract: cannot read the Params field '${field.trim()}'`);
    }
  }
  const bindings: KernelBinding[] = [];
  for (const m of code.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<\s*(uniform|storage)\s*(?:,\s*(read_write|read)\s*)?>\s*(\w+)/g)) {
    const access = m[2] === 'uniform' ? 'uniform' : m[3] === 'read_write' ? 'read_write' : 'read';
    bindings.push({ index: Number(m[1]), name: m[4]!, access });
  }
  bindings.sort((a, b) => a.index - b.index);
  return { params, bindings };
}

/**
 * What differs between a contract and a dispatch's named params and tensors (empty when they agree). `params` and
 * `tensors` are in the order the dispatch packs and binds them.
 */
export function contractMismatches(c: KernelContract, params: readonly [string, ParamType][], tensors: readonly string[]): string[] {
  const problems: string[] = [];
  const wgslParams = c.params.map((f) => `${f.name}: ${f.type}`).join(', ');
  const tsParams = params.map(([name, type]) => `${name}: ${type}`).join(', ');
  if (wgslParams !== tsParams) problems.push(`params are { ${wgslParams} } in WGSL but { ${tsParams} } in the dispatch`);
  const uniform = c.bindings.find((b) => b.index === 0);
  if (params.length > 0 && uniform?.access !== 'uniform') problems.push('the dispatch has params but @binding(0) is not the uniform Params');
  if (params.length === 0 && uniform) problems.push(`@binding(0) '${uniform.name}' is declared but the dispatch has no params`);
  const storage = c.bindings.filter((b) => b.index > 0);
  const wgslTensors = storage.map((b) => `${b.index}:${b.name}`).join(', ');
  const tsTensors = tensors.map((name, i) => `${i + 1}:${name}`).join(', ');
  if (wgslTensors !== tsTensors) problems.push(`bindings are [${wgslTensors}] in WGSL but [${tsTensors}] in the dispatch`);
  return problems;
}
