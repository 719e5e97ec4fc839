/**
 * A small WGSL preprocessor so one kernel source serves several variants (weight dtype, fast paths):
 *   #if NAME / #elif NAME / #else / #endif   — NAME is true when defines[NAME] is truthy ("!NAME" negates)
 *   {{NAME}}                                  — replaced by String(defines[NAME])
 *   #include "lib"                            — inlines shaders/lib.wgsl (shared helper functions)
 * Tile sizes and other numbers that need no code changes should be WGSL `override` constants instead.
 */
import { WGSL_SOURCES } from '../shaders.generated.ts';

export type Defines = Record<string, string | number | boolean>;

export function preprocess(source: string, defines: Defines, name = 'shader', depth = 0): string {
  if (depth > 8) throw new Error(`${name}: #include nested too deeply`);
  const out: string[] = [];
  // Each frame: is this branch emitting, has any branch of this #if been taken, was the parent emitting.
  const stack: { emit: boolean; taken: boolean; parent: boolean }[] = [];
  const truth = (expr: string) => {
    const neg = expr.startsWith('!');
    const key = neg ? expr.slice(1).trim() : expr;
    const v = Boolean(defines[key]);
    return neg ? !v : v;
  };
  const emitting = () => stack.length === 0 || stack[stack.length - 1]!.emit;
  source.split('\n').forEach((line, i) => {
    const inc = /^\s*#include\s+"([\w-]+)"\s*$/.exec(line);
    if (inc) {
      if (emitting()) out.push(preprocess(shaderSource(inc[1]!), defines, inc[1], depth + 1));
      return;
    }
    const m = /^\s*#(if|elif|else|endif)\b\s*(.*)$/.exec(line);
    if (!m) {
      if (emitting()) out.push(line);
      return;
    }
    const [, kw, rest] = m;
    const top = stack[stack.length - 1];
    if (kw === 'if') {
      const parent = emitting();
      const t = truth(rest!.trim());
      stack.push({ emit: parent && t, taken: t, parent });
    } else if (!top) {
      throw new Error(`${name}:${i + 1}: #${kw} without #if`);
    } else if (kw === 'elif') {
      const t = !top.taken && truth(rest!.trim());
      top.emit = top.parent && t;
      top.taken ||= t;
    } else if (kw === 'else') {
      top.emit = top.parent && !top.taken;
      top.taken = true;
    } else {
      stack.pop();
    }
  });
  if (stack.length) throw new Error(`${name}: unterminated #if`);
  return out.join('\n').replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in defines)) throw new Error(`${name}: {{${k}}} has no define`);
    return String(defines[k]);
  });
}

export function shaderSource(name: string): string {
  const src = WGSL_SOURCES[name];
  if (src === undefined) throw new Error(`unknown shader '${name}'; known: ${Object.keys(WGSL_SOURCES).join(', ')}`);
  return src;
}
