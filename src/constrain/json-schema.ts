/**
 * Compiles a JSON Schema (a subset, below) into a Grammar for the byte-level Recognizer.
 *
 * Supported keywords:
 *   type (a name or a list of names: object, array, string, number, integer, boolean, null)
 *   object: properties, required, additionalProperties (false or absent: only declared properties are written; true
 *           is accepted, but extra properties are never generated)
 *   array:  items (one schema), minItems, maxItems
 *   string: minLength, maxLength (code points)
 *   number / integer: minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers; enforced exactly, decimal.ts)
 *   enum, const (any JSON values), anyOf, oneOf, $ref ("#", "#/$defs/...", "#/definitions/...", any "#/..." pointer),
 *   $defs / definitions, and the annotations title, description, $comment, examples, default, deprecated, readOnly,
 *   writeOnly, $schema, $id (root only).
 * Anything else (pattern, format, multipleOf, allOf, not, uniqueItems, prefixItems, minProperties, ...) is an error
 * naming the keyword and its path: nothing that changes which documents are valid is ignored.
 *
 * What the generated documents look like (every one is valid for the schema; some valid documents are not produced):
 *   - properties appear in the schema's declaration order; required ones always, optional ones may be skipped;
 *   - keys, const and enum values are written exactly as JSON.stringify writes them (compact, keys in their order);
 *   - whitespace: at most `maxWhitespace` bytes (default 0: compact JSON) in each gap between tokens, none at the end;
 *   - numbers: integer has no fraction or exponent; bounded numbers no exponent; digit limits as in decimal.ts;
 *   - oneOf is read as anyOf: where alternatives overlap, a document matching two would break oneOf's "exactly one";
 *   - a schema without `type` but with keywords of one type only (e.g. properties) is read as that type;
 *   - strings and arrays without maxLength / maxItems are unbounded: a generation budget must bound them.
 */
import { DecimalRange, type NumberBounds } from './decimal.ts';
import { ByteTrie, type Grammar, type GrammarNode, type ObjectNode, type PropertyRule, type RefNode } from './grammar.ts';
import { Recognizer } from './recognizer.ts';

export interface JsonSchemaOptions {
  /** Most whitespace bytes in one gap between JSON tokens (and before the document). Default 0 (compact JSON). */
  maxWhitespace?: number;
}

/** The schema uses something unsupported, is malformed, or admits no document; the message names the path. */
export class JsonSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonSchemaError';
  }
}

const ANNOTATIONS = new Set([
  'title',
  'description',
  '$comment',
  'examples',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$schema',
  '$defs',
  'definitions',
]);
const TYPE_KEYWORDS: Record<string, readonly string[]> = {
  object: ['properties', 'required', 'additionalProperties'],
  array: ['items', 'minItems', 'maxItems'],
  string: ['minLength', 'maxLength'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
};
const KNOWN = new Set([...ANNOTATIONS, ...Object.values(TYPE_KEYWORDS).flat(), 'type', 'enum', 'const', 'anyOf', 'oneOf', '$ref']);
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'];

type Schema = Record<string, unknown>;
/** A grammar node before it gets its id. */
type NewNode = GrammarNode extends infer N ? (N extends GrammarNode ? Omit<N, 'id'> : never) : never;
const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);
const utf8 = new TextEncoder();

/** Compiles `schema` (a parsed JSON Schema) into a grammar every document of which is valid for it. */
export function compileJsonSchema(schema: unknown, options: JsonSchemaOptions = {}): Grammar {
  const maxWhitespace = options.maxWhitespace ?? 0;
  if (!Number.isInteger(maxWhitespace) || maxWhitespace < 0) throw new RangeError(`maxWhitespace must be an integer >= 0, got ${maxWhitespace}`);
  const compiler = new Compiler(schema);
  const root = compiler.compile(schema, '#', true);
  compiler.finish(root);
  return { root, maxWhitespace };
}

class Compiler {
  private nextId = 0;
  private readonly nodes: GrammarNode[] = [];
  private readonly refs = new Map<string, RefNode>();
  /** Why nodes are unsatisfiable on their own (minLength > maxLength, ...), for the error when the root is. */
  private readonly contradictions = new Map<GrammarNode, string>();

  constructor(private readonly document: unknown) {}

  private add<T extends NewNode>(node: T): T & { id: number } {
    const n = Object.assign(node, { id: this.nextId++ });
    this.nodes.push(n as GrammarNode);
    return n;
  }

  compile(schema: unknown, path: string, root = false): GrammarNode {
    if (schema === true) throw new JsonSchemaError(`${path}: the schema \`true\` allows any value; give it a type (unconstrained values are not supported)`);
    if (schema === false) throw new JsonSchemaError(`${path}: the schema \`false\` allows no value`);
    if (!isObject(schema)) throw new JsonSchemaError(`${path}: a schema must be an object, got ${JSON.stringify(schema)}`);
    for (const key of Object.keys(schema)) {
      if (key === '$id' && root) continue;
      if (!KNOWN.has(key)) throw new JsonSchemaError(`${path}: unsupported keyword "${key}" (constrained decoding would not enforce it)`);
    }
    const validation = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k) && k !== '$id');

    if ('$ref' in schema) {
      const others = validation.filter((k) => k !== '$ref');
      if (others.length)
        throw new JsonSchemaError(`${path}: "$ref" beside ${others.map((k) => `"${k}"`).join(', ')} is not supported; move them into the referenced schema`);
      return this.ref(schema.$ref, `${path}/$ref`);
    }
    for (const combinator of ['anyOf', 'oneOf'] as const) {
      if (!(combinator in schema)) continue;
      const others = validation.filter((k) => k !== combinator);
      if (others.length) {
        throw new JsonSchemaError(
          `${path}: "${combinator}" beside ${others.map((k) => `"${k}"`).join(', ')} is not supported; move them into each alternative`,
        );
      }
      const list = schema[combinator];
      if (!Array.isArray(list) || list.length === 0) throw new JsonSchemaError(`${path}/${combinator}: must be a non-empty array of schemas`);
      return this.add({ kind: 'anyOf', options: list.map((s, k) => this.compile(s, `${path}/${combinator}/${k}`)) });
    }
    if ('enum' in schema || 'const' in schema) return this.literal(schema, path);
    return this.typed(schema, path);
  }

  /** const / enum: the values, filtered by the rest of the schema, as compact JSON texts. */
  private literal(schema: Schema, path: string): GrammarNode {
    let values: unknown[];
    if ('enum' in schema) {
      if (!Array.isArray(schema.enum) || schema.enum.length === 0) throw new JsonSchemaError(`${path}/enum: must be a non-empty array`);
      values = schema.enum;
      if ('const' in schema) values = values.filter((v) => JSON.stringify(v) === JSON.stringify(schema.const));
    } else {
      values = [schema.const];
    }
    const rest = Object.fromEntries(Object.entries(schema).filter(([k]) => k !== 'enum' && k !== 'const' && k !== '$id' && !ANNOTATIONS.has(k)));
    let texts = [...new Set(values.map((v) => JSON.stringify(v)))];
    if (Object.keys(rest).length > 0) {
      // The other keywords still apply to the listed values: keep those the rest of the schema accepts.
      const sub = new Compiler(this.document);
      const restRoot = sub.compile(rest, path);
      const ok = sub.finish(restRoot, false);
      const recognizer = ok ? new Recognizer({ root: restRoot, maxWhitespace: 0 }) : null;
      // Without "type", keywords only constrain values of their own type (minLength says nothing about a number).
      const untyped = !('type' in rest) ? Object.keys(TYPE_KEYWORDS).filter((f) => TYPE_KEYWORDS[f]!.some((k) => k in rest)) : null;
      texts = texts.filter((t) => (untyped !== null && !untyped.includes(jsonFamily(JSON.parse(t)))) || (recognizer?.accepts(t) ?? false));
    }
    const node = this.add({ kind: 'literal', texts, trie: new ByteTrie(texts.map((t) => utf8.encode(t))) });
    if (texts.length === 0) this.contradictions.set(node, `${path}: none of the const/enum values satisfies the other keywords`);
    return node;
  }

  private typed(schema: Schema, path: string): GrammarNode {
    let types: string[];
    if ('type' in schema) {
      const t = schema.type;
      types = typeof t === 'string' ? [t] : Array.isArray(t) ? (t as string[]) : [];
      if (types.length === 0 || !types.every((x) => typeof x === 'string'))
        throw new JsonSchemaError(`${path}/type: must be a type name or a non-empty list of them`);
      for (const x of types) if (!TYPES.includes(x)) throw new JsonSchemaError(`${path}/type: unknown type "${x}"; expected one of ${TYPES.join(', ')}`);
    } else {
      // No type: the keywords present say which kind of value is meant (a schema constraining only objects is read as one).
      const families = Object.keys(TYPE_KEYWORDS).filter((f) => TYPE_KEYWORDS[f]!.some((k) => k in schema));
      if (families.length !== 1) {
        throw new JsonSchemaError(
          `${path}: no "type"${families.length ? ` and keywords of several types (${families.join(', ')})` : ', enum, const, anyOf, oneOf or $ref'}: unconstrained values are not supported`,
        );
      }
      types = families;
    }
    const nodes = [...new Set(types)].map((t) => this.ofType(t, schema, types.length > 1 ? `${path}(${t})` : path));
    return nodes.length === 1 ? nodes[0]! : this.add({ kind: 'anyOf', options: nodes });
  }

  private ofType(type: string, schema: Schema, path: string): GrammarNode {
    switch (type) {
      case 'object':
        return this.object(schema, path);
      case 'array': {
        const minItems = count(schema, 'minItems', path, 0);
        const maxItems = count(schema, 'maxItems', path, Infinity);
        if (!('items' in schema) && maxItems > 0) throw new JsonSchemaError(`${path}: an array needs "items" (unconstrained items are not supported)`);
        if (Array.isArray(schema.items)) throw new JsonSchemaError(`${path}/items: a list of schemas (tuple items) is not supported`);
        const items = 'items' in schema ? this.compile(schema.items, `${path}/items`) : this.add({ kind: 'literal', texts: [], trie: new ByteTrie([]) });
        const node = this.add({ kind: 'array', items, minItems, maxItems });
        if (minItems > maxItems) this.contradictions.set(node, `${path}: minItems ${minItems} > maxItems ${maxItems}`);
        return node;
      }
      case 'string': {
        const minLength = count(schema, 'minLength', path, 0);
        const maxLength = count(schema, 'maxLength', path, Infinity);
        const node = this.add({ kind: 'string', minLength, maxLength });
        if (minLength > maxLength) this.contradictions.set(node, `${path}: minLength ${minLength} > maxLength ${maxLength}`);
        return node;
      }
      case 'number':
      case 'integer': {
        const bounds: NumberBounds = {};
        for (const k of TYPE_KEYWORDS.number!) {
          if (!(k in schema)) continue;
          const v = schema[k];
          if (typeof v !== 'number' || !Number.isFinite(v)) {
            throw new JsonSchemaError(
              `${path}/${k}: must be a finite number${typeof v === 'boolean' ? ' (draft-4 boolean exclusive bounds are not supported)' : ''}, got ${JSON.stringify(v)}`,
            );
          }
          bounds[k as keyof NumberBounds] = v;
        }
        const integer = type === 'integer';
        const range = Object.keys(bounds).length ? DecimalRange.fromBounds(bounds, integer) : null;
        const node = this.add({ kind: 'number', integer, range });
        if (range?.isEmpty()) this.contradictions.set(node, `${path}: no ${type} we can write satisfies ${JSON.stringify(bounds)}`);
        return node;
      }
      case 'boolean':
        return this.add({ kind: 'literal', texts: ['true', 'false'], trie: new ByteTrie([utf8.encode('true'), utf8.encode('false')]) });
      default: // null
        return this.add({ kind: 'literal', texts: ['null'], trie: new ByteTrie([utf8.encode('null')]) });
    }
  }

  private object(schema: Schema, path: string): ObjectNode {
    const properties = schema.properties ?? {};
    if (!isObject(properties)) throw new JsonSchemaError(`${path}/properties: must be an object of schemas`);
    const required = schema.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string'))
      throw new JsonSchemaError(`${path}/required: must be a list of property names`);
    for (const name of required) {
      if (!(name in properties)) throw new JsonSchemaError(`${path}/required: "${name}" is not in properties (only declared properties are generated)`);
    }
    const extra = schema.additionalProperties;
    if (extra !== undefined && typeof extra !== 'boolean') {
      throw new JsonSchemaError(`${path}/additionalProperties: only true or false is supported (extra properties are never generated)`);
    }
    const props: PropertyRule[] = Object.entries(properties).map(([name, s]) => ({
      name,
      value: this.compile(s, `${path}/properties/${escapePointer(name)}`),
      required: required.includes(name),
    }));
    return this.add({ kind: 'object', props, keyTries: [], canClose: [] });
  }

  private ref(ref: unknown, path: string): GrammarNode {
    if (typeof ref !== 'string' || !(ref === '#' || ref.startsWith('#/'))) {
      throw new JsonSchemaError(`${path}: only local references ("#", "#/$defs/...", "#/definitions/...") are supported, got ${JSON.stringify(ref)}`);
    }
    let node = this.refs.get(ref);
    if (!node) {
      node = this.add({ kind: 'ref', ref, target: null as GrammarNode | null });
      this.refs.set(ref, node);
      let target: unknown = this.document;
      for (const part of ref.split('/').slice(1)) {
        const key = decodeURIComponent(part).replaceAll('~1', '/').replaceAll('~0', '~');
        if (!isObject(target) || !(key in target)) throw new JsonSchemaError(`${path}: ${ref} does not point into the schema`);
        target = target[key];
      }
      node.target = this.compile(target, ref, ref === '#');
    }
    return node;
  }

  /**
   * Prunes what no document can satisfy (anyOf alternatives, optional properties, array items), builds the objects'
   * key tries, and rejects left recursion. Returns whether `root` is satisfiable; throws when not and `strict`.
   */
  finish(root: GrammarNode, strict = true): boolean {
    this.checkNoLeftRecursion();
    const sat = this.satisfiable();
    for (const node of this.nodes) {
      if (node.kind === 'anyOf') node.options = node.options.filter((o) => sat.get(o));
      else if (node.kind === 'array' && !sat.get(node.items)) node.maxItems = 0;
      else if (node.kind === 'object') {
        node.props = node.props.filter((p) => p.required || sat.get(p.value));
        buildKeys(node);
      }
    }
    if (sat.get(root)) return true;
    if (!strict) return false;
    const reasons = [...this.contradictions.values()];
    throw new JsonSchemaError(`no JSON document satisfies the schema${reasons.length ? `: ${reasons.join('; ')}` : ''}`);
  }

  /** Least fixed point: a node is satisfiable when some finite document matches it. */
  private satisfiable(): Map<GrammarNode, boolean> {
    const sat = new Map<GrammarNode, boolean>(this.nodes.map((n) => [n, false]));
    for (let changed = true; changed; ) {
      changed = false;
      for (const n of this.nodes) {
        if (sat.get(n) || this.contradictions.has(n)) continue;
        let ok: boolean;
        switch (n.kind) {
          case 'anyOf':
            ok = n.options.some((o) => sat.get(o));
            break;
          case 'ref':
            ok = sat.get(n.target!)!;
            break;
          case 'object':
            ok = n.props.every((p) => !p.required || sat.get(p.value));
            break;
          case 'array':
            ok = n.minItems === 0 || sat.get(n.items)!;
            break;
          case 'literal':
            ok = n.texts.length > 0;
            break;
          default:
            ok = true;
        }
        if (ok) {
          sat.set(n, true);
          changed = true;
        }
      }
    }
    return sat;
  }

  /** anyOf / $ref cycles that read no byte in between would make the recognizer recurse forever. */
  private checkNoLeftRecursion(): void {
    const state = new Map<GrammarNode, 'visiting' | 'done'>();
    const visit = (n: GrammarNode) => {
      const s = state.get(n);
      if (s === 'done') return;
      if (s === 'visiting') throw new JsonSchemaError(`${n.kind === 'ref' ? n.ref : 'a schema'} refers to itself without nesting in an object or array`);
      state.set(n, 'visiting');
      if (n.kind === 'anyOf') n.options.forEach(visit);
      if (n.kind === 'ref') visit(n.target!);
      state.set(n, 'done');
    };
    this.nodes.forEach(visit);
  }
}

/** keyTries[t]: the keys of the properties that may come after t properties' worth of the list, up to the next required one. */
function buildKeys(node: ObjectNode): void {
  const n = node.props.length;
  node.keyTries = [];
  node.canClose = [];
  for (let t = 0; t <= n; t++) {
    const candidates: (Uint8Array | null)[] = new Array<Uint8Array | null>(n).fill(null);
    let j = t;
    for (; j < n; j++) {
      candidates[j] = utf8.encode(JSON.stringify(node.props[j]!.name));
      if (node.props[j]!.required) break;
    }
    node.keyTries.push(new ByteTrie(candidates)); // values are property indices
    node.canClose.push(j >= n);
  }
}

/** The keyword family of a JSON value's type. */
function jsonFamily(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? 'number' : typeof v === 'object' ? 'object' : typeof v;
}

function count(schema: Schema, key: string, path: string, absent: number): number {
  if (!(key in schema)) return absent;
  const v = schema[key];
  if (!Number.isInteger(v) || (v as number) < 0) throw new JsonSchemaError(`${path}/${key}: must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function escapePointer(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}
