/**
 * The code's import graph has no cycles, at two levels:
 * - files, value imports only: a runtime cycle makes module evaluation order matter (a class read before its module
 *   ran). Type-only imports are erased, so two files of one layer may name each other's types (GpuContext builds
 *   CommandRecorders, a recorder refers to its context).
 * - folders (src/model, src/lora, runtime-node, ...), every import including type-only ones: a folder is a layer, and
 *   a type is as much a dependency of the design as a function, so a cycle between folders (model <-> lora) means
 *   neither can be understood, tested or moved without the other. Files directly in src/, runtime-node/ and runtime-browser/
 *   count as their own nodes.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCANNED = ['src', 'runtime-node', 'runtime-browser'];

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Relative `import ... from './x.ts'` and `export ... from './x.ts'` of a source text; `import './x.ts'` too. */
function relativeImports(source: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([^;'"]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm)) {
    const clause = m[3] ?? '';
    // `import { type A, type B } from` is type-only too.
    const names = /\{([^}]*)\}/.exec(clause)?.[1];
    const allTyped = names !== undefined && !/^[^{]*\w[^{]*\{/.test(clause) && names.split(',').every((n) => n.trim() === '' || /^type\s/.test(n.trim()));
    out.push({ spec: m[4]!, typeOnly: Boolean(m[2]) || allTyped });
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const top of SCANNED) {
    for (const file of sourceFiles(join(ROOT, top))) {
      for (const { spec, typeOnly } of relativeImports(readFileSync(file, 'utf8'))) {
        edges.push({ from: relative(ROOT, file), to: relative(ROOT, resolve(dirname(file), spec)), typeOnly });
      }
    }
  }
  return edges;
}

/** Every cycle's strongly connected component (Tarjan), each as its nodes plus the edges inside it. */
function cycles(edges: readonly { from: string; to: string }[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    if (from === to) continue;
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(to);
    if (!graph.has(to)) graph.set(to, new Set());
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) {
        const inside = new Set(component);
        found.push(edges.filter((e) => inside.has(e.from) && inside.has(e.to) && e.from !== e.to).map((e) => `${e.from} -> ${e.to}`));
      }
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found.map((c) => [...new Set(c)].sort());
}

/**
 * A file's layer: its folder, or the file itself when it sits directly in a scanned top folder (src/index.ts re-exports
 * every layer below it, runtime-browser/index.ts the engine in runtime-browser/engine/ that builds on device.ts, hub.ts).
 */
function folderOf(path: string): string {
  const dir = dirname(path);
  return SCANNED.includes(dir) ? path : dir;
}

describe('import cycles', () => {
  const edges = importEdges();

  it('the scan sees the code (hundreds of relative imports, type-only ones told apart)', () => {
    expect(edges.length).toBeGreaterThan(300);
    expect(edges.some((e) => e.typeOnly)).toBe(true);
    expect(edges.some((e) => e.from === 'src/inference/load-model.ts')).toBe(true);
  });

  it('no cycle between files through value imports', () => {
    expect(cycles(edges.filter((e) => !e.typeOnly))).toEqual([]);
  });

  it('no cycle between folders through any import, type-only included', () => {
    const folderEdges = edges.map((e) => ({ from: folderOf(e.from), to: folderOf(e.to) }));
    const found = cycles(folderEdges);
    // The file imports behind each folder edge of a cycle, so a failure says what to move.
    const imports = found.flat().flatMap((edge) => {
      const [from, to] = edge.split(' -> ');
      return edges.filter((e) => folderOf(e.from) === from && folderOf(e.to) === to).map((e) => `${e.from} -> ${e.to}`);
    });
    expect({ cycles: found, imports }).toEqual({ cycles: [], imports: [] });
  });

  it('the checker finds a cycle it is shown, and reads type-only clauses', () => {
    expect(
      cycles([
        { from: 'a', to: 'b' },
        { from: 'b', to: 'c' },
        { from: 'c', to: 'a' },
        { from: 'c', to: 'd' },
      ]),
    ).toEqual([['a -> b', 'b -> c', 'c -> a']]);
    expect(cycles([{ from: 'a', to: 'b' }])).toEqual([]);
    expect(
      relativeImports(
        "import type { A } from './a.ts';\nimport { type B, type C } from '../b.ts';\nimport { D, type E } from './d.ts';\nexport * from './e.ts';\nimport x from 'vitest';",
      ),
    ).toEqual([
      { spec: './a.ts', typeOnly: true },
      { spec: '../b.ts', typeOnly: true },
      { spec: './d.ts', typeOnly: false },
      { spec: './e.ts', typeOnly: false },
    ]);
  });
});
