/**
 * The vocabulary as a byte trie: tokens that share a prefix share the path, so judging every token against a
 * recognizer state costs one recognizer step per trie node reached (and a refused byte prunes its whole subtree).
 * Built once per vocabulary from the tokens sorted by their bytes; nodes are numbered in depth-first order.
 */
export class TokenTrie {
  /** firstChild[node] / nextSibling[node]: children in increasing byte order; -1 ends a list. */
  readonly firstChild: Int32Array;
  readonly nextSibling: Int32Array;
  /** The byte leading into each node (the root's is unused). */
  readonly byte: Uint8Array;
  /** Token ids whose bytes end at a node: tokens[tokenStart[node] .. tokenEnd[node]). */
  readonly tokenStart: Int32Array;
  readonly tokenEnd: Int32Array;
  readonly tokens: Int32Array;
  readonly nodeCount: number;

  /** A trie of the ids whose bytes are non-empty and pass `include`. */
  constructor(bytes: readonly (Uint8Array | null)[], include: (id: number) => boolean = () => true) {
    const ids: number[] = [];
    let totalBytes = 0;
    for (let id = 0; id < bytes.length; id++) {
      const b = bytes[id];
      if (b && b.length > 0 && include(id)) {
        ids.push(id);
        totalBytes += b.length;
      }
    }
    // Sorted by bytes (as latin-1 strings: native comparison, code unit order = byte order), ties by id.
    const keyed = ids.map((id) => ({ id, key: latin1(bytes[id]!) }));
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id - b.id));
    keyed.forEach((k, i) => {
      ids[i] = k.id;
    });
    const cap = totalBytes + 1;
    const firstChild = new Int32Array(cap).fill(-1);
    const nextSibling = new Int32Array(cap).fill(-1);
    const lastChild = new Int32Array(cap).fill(-1);
    const byte = new Uint8Array(cap);
    const tokenStart = new Int32Array(cap);
    const tokenEnd = new Int32Array(cap);
    let nodes = 1;
    const path = [0]; // path[d]: node of the current token's first d bytes
    let prev: Uint8Array = new Uint8Array(0);
    ids.forEach((id, k) => {
      const b = bytes[id]!;
      let common = 0;
      while (common < b.length && common < prev.length && b[common] === prev[common]) common++;
      path.length = common + 1;
      for (let d = common; d < b.length; d++) {
        const parent = path[d]!;
        const node = nodes++;
        byte[node] = b[d]!;
        if (lastChild[parent]! < 0) firstChild[parent] = node;
        else nextSibling[lastChild[parent]!] = node;
        lastChild[parent] = node;
        path.push(node);
      }
      const end = path[b.length]!;
      if (tokenEnd[end] === tokenStart[end]) tokenStart[end] = k; // identical byte strings are adjacent
      tokenEnd[end] = k + 1;
      prev = b;
    });
    this.nodeCount = nodes;
    this.firstChild = firstChild.subarray(0, nodes);
    this.nextSibling = nextSibling.subarray(0, nodes);
    this.byte = byte.subarray(0, nodes);
    this.tokenStart = tokenStart.subarray(0, nodes);
    this.tokenEnd = tokenEnd.subarray(0, nodes);
    this.tokens = Int32Array.from(ids);
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}
