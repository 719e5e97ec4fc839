/**
 * The grammar a JSON Schema compiles to (json-schema.ts) and the recognizer runs (recognizer.ts): one node per value
 * shape. Nodes may form cycles through `ref` nodes (recursive $ref). Every node reachable from a compiled root is
 * satisfiable (has at least one finite document), which is what lets every recognizer state reach completion.
 */
import type { DecimalRange } from './decimal.ts';

export type GrammarNode = ObjectNode | ArrayNode | StringNode | NumberNode | LiteralNode | AnyOfNode | RefNode;

interface NodeBase {
  /** Unique within a grammar: part of recognizer state keys. */
  id: number;
}

export interface PropertyRule {
  name: string;
  value: GrammarNode;
  required: boolean;
}

/** Properties appear in declaration order; required ones must, optional ones may be skipped. */
export interface ObjectNode extends NodeBase {
  kind: 'object';
  props: PropertyRule[];
  /** keyTries[t]: the quoted keys that may come next when t properties' worth of the list is behind (t = last index + 1). */
  keyTries: ByteTrie[];
  /** canClose[t]: no required property at index >= t. */
  canClose: boolean[];
}

export interface ArrayNode extends NodeBase {
  kind: 'array';
  items: GrammarNode;
  minItems: number;
  /** Infinity when unbounded. */
  maxItems: number;
}

/** Lengths count Unicode code points (a surrogate-pair escape is one), as JSON Schema does. */
export interface StringNode extends NodeBase {
  kind: 'string';
  minLength: number;
  /** Infinity when unbounded. */
  maxLength: number;
}

export interface NumberNode extends NodeBase {
  kind: 'number';
  integer: boolean;
  /** Bounds (minimum, maximum, exclusive*), or null. Bounded numbers are written without an exponent. */
  range: DecimalRange | null;
}

/** const / enum / true / false / null: the exact byte strings allowed (compact JSON text). */
export interface LiteralNode extends NodeBase {
  kind: 'literal';
  texts: string[];
  trie: ByteTrie;
}

export interface AnyOfNode extends NodeBase {
  kind: 'anyOf';
  options: GrammarNode[];
}

/** A $ref, resolved after its target is compiled (targets may refer back to themselves). */
export interface RefNode extends NodeBase {
  kind: 'ref';
  ref: string;
  target: GrammarNode | null;
}

export interface Grammar {
  root: GrammarNode;
  /** Most whitespace bytes (space, tab, LF, CR) allowed in one gap between JSON tokens and before the document. */
  maxWhitespace: number;
}

/** Follows ref nodes to the node they stand for. */
export function deref(node: GrammarNode): Exclude<GrammarNode, RefNode> {
  let n: GrammarNode = node;
  for (let hops = 0; n.kind === 'ref'; hops++) {
    if (!n.target || hops > 1000) throw new Error(`$ref ${n.ref} is unresolved or refers only to itself`);
    n = n.target;
  }
  return n;
}

/**
 * A trie over byte strings with a value per complete string (its index in the input list). Node 0 is the root.
 * Small (keys, enum values): children are kept as maps.
 */
export class ByteTrie {
  private readonly children: Map<number, number>[] = [new Map()];
  /** value[node]: index of the string ending at node, or -1. */
  private readonly values: number[] = [-1];

  /** entries[k] (skipped when null) gets value k. */
  constructor(entries: readonly (Uint8Array | null)[]) {
    entries.forEach((s, index) => {
      if (s === null) return;
      let node = 0;
      for (const b of s) {
        let next = this.children[node]!.get(b);
        if (next === undefined) {
          next = this.children.length;
          this.children.push(new Map());
          this.values.push(-1);
          this.children[node]!.set(b, next);
        }
        node = next;
      }
      if (this.values[node] === -1) this.values[node] = index;
    });
  }

  /** The node after `byte`, or -1. */
  next(node: number, byte: number): number {
    return this.children[node]!.get(byte) ?? -1;
  }

  /** Index of the string ending at node, or -1. */
  value(node: number): number {
    return this.values[node]!;
  }

  isLeaf(node: number): boolean {
    return this.children[node]!.size === 0;
  }
}
