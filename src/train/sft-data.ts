/**
 * Supervised fine-tuning data: JSONL rows → token ids and HF-style labels (the id to learn, or IGNORE_INDEX).
 *
 * Rows: {"text"}, {"messages": [{role, content}, …]} (rendered with the model's chat template) or
 * {"prompt", "completion"} (plain strings, concatenated as TRL does). Loss modes:
 *   all         every token (after the first) is trained;
 *   output      only the assistant turns of a chat: each turn's content and its end-of-turn token;
 *   completion  only the completion of a prompt/completion row (and the EOS after it).
 *
 * BOS is added the way the tokenizer does (once, even when a chat template writes it too: SEAL's doubled BOS is not
 * reproduced). EOS is appended to text and prompt/completion rows (unless the text already ends with it), as TRL
 * does: without it the adapted model never learns where an answer stops and rambles to its token limit at
 * inference. Chat rows get none: the template already ends every assistant turn with its end-of-turn token.
 * Nothing is ever padded: examples are packed for training (batch.ts), so no pad token enters loss or compute.
 */
import type { ChatMessage, ChatTemplate } from '../text/chat-template.ts';
import type { TextTokenizer } from '../text/tokenizer.ts';
import { IGNORE_INDEX, type TrainSequence } from './batch.ts';

/** Bad training data; the message names the source and the line. */
export class SftDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SftDataError';
  }
}

export const LOSS_MODES = ['all', 'output', 'completion'] as const;
export type LossMode = (typeof LOSS_MODES)[number];

export type SftRow =
  | { kind: 'text'; text: string }
  | { kind: 'messages'; messages: ChatMessage[] }
  | { kind: 'prompt-completion'; prompt: string; completion: string };

/** A row and the 1-based line it came from. */
export type SftDataRow = SftRow & { line: number };

const SHAPES = '{"text": …}, {"messages": [{"role", "content"}, …]} or {"prompt": …, "completion": …}';

/** Parses JSONL training rows; blank lines are skipped, every problem names its line. */
export function parseSftJsonl(text: string, source = 'data'): SftDataRow[] {
  const rows: SftDataRow[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '') return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (e) {
      throw new SftDataError(`${source} line ${line}: not valid JSON (${(e as Error).message})`);
    }
    rows.push({ ...parseSftRow(value, `${source} line ${line}`), line });
  });
  if (rows.length === 0)
    throw new SftDataError(`${source}: no training examples (the file is empty or has only blank lines); expected one JSON object per line: ${SHAPES}`);
  return rows;
}

/** One row object → its shape, or a clear error. */
export function parseSftRow(value: unknown, where: string): SftRow {
  const fail = (what: string): never => {
    throw new SftDataError(`${where}: ${what}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(`expected a JSON object (${SHAPES}), got ${describe(value)}`);
  const o = value as Record<string, unknown>;
  const present = (['text', 'messages', 'prompt', 'completion'] as const).filter((k) => k in o);
  const shapes = new Set(present.map((k) => (k === 'prompt' || k === 'completion' ? 'prompt-completion' : k)));
  if (shapes.size === 0) return fail(`unknown row shape with keys [${Object.keys(o).join(', ')}]; expected ${SHAPES}`);
  if (shapes.size > 1) return fail(`ambiguous row: it has ${present.map((k) => `"${k}"`).join(' and ')}; use exactly one of ${SHAPES}`);
  if ('text' in o) {
    if (typeof o.text !== 'string') fail(`"text" must be a string, got ${describe(o.text)}`);
    return { kind: 'text', text: o.text as string };
  }
  if ('messages' in o) {
    const m = o.messages;
    if (!Array.isArray(m) || m.length === 0) return fail(`"messages" must be a non-empty list of {"role", "content"}, got ${describe(m)}`);
    m.forEach((msg, i) => {
      if (typeof msg !== 'object' || msg === null || typeof msg.role !== 'string' || typeof msg.content !== 'string') {
        fail(`messages[${i}] must be {"role": string, "content": string}, got ${describe(msg)}`);
      }
    });
    return { kind: 'messages', messages: m as ChatMessage[] };
  }
  if (typeof o.prompt !== 'string' || typeof o.completion !== 'string') {
    return fail(`"prompt" and "completion" must both be strings, got prompt ${describe(o.prompt)} and completion ${describe(o.completion)}`);
  }
  return { kind: 'prompt-completion', prompt: o.prompt, completion: o.completion };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** The natural loss mode of the data: output for chats, completion for prompt/completion rows, else all. */
export function defaultLossMode(rows: readonly SftRow[]): LossMode {
  if (rows.length > 0 && rows.every((r) => r.kind === 'messages')) return 'output';
  if (rows.length > 0 && rows.every((r) => r.kind === 'prompt-completion')) return 'completion';
  return 'all';
}

/** A tokenized example: ids and HF labels (IGNORE_INDEX where nothing is learned), ready for packTrainingSequences. */
export interface SftExample extends TrainSequence {
  ids: number[];
  labels: number[];
  /** The data line it came from. */
  line: number;
  /** Targets that carry loss (labels set at positions >= 1: position 0 is never predicted). */
  trainedTokens: number;
}

export interface TokenizeSftOptions {
  tokenizer: TextTokenizer;
  /** The model's chat template; needed for messages rows. */
  chatTemplate: ChatTemplate | null;
  lossMode: LossMode;
  /** The longest example allowed, in tokens: max_position_embeddings, or less. */
  maxLength: number;
  /** Where the rows came from, for messages ("data.jsonl"). */
  source?: string;
  /** Why maxLength is what it is, for the error ("the model's max_position_embeddings"). */
  maxLengthReason?: string;
  /** The date chat templates print (Llama 3); default the template's fixed date. */
  chatDate?: Date;
}

/** Tokenizes every row and builds its labels for the loss mode; errors name the line. */
export function tokenizeSftRows(rows: readonly SftDataRow[], options: TokenizeSftOptions): SftExample[] {
  const { tokenizer, lossMode, maxLength } = options;
  const source = options.source ?? 'data';
  if (!(LOSS_MODES as readonly string[]).includes(lossMode))
    throw new SftDataError(`unknown loss mode ${JSON.stringify(lossMode)}; expected ${LOSS_MODES.join(', ')}`);
  if (!Number.isSafeInteger(maxLength) || maxLength < 2) throw new SftDataError(`maxLength must be an integer >= 2, got ${maxLength}`);
  if (rows.length === 0) throw new SftDataError(`${source}: no training examples`);
  const eos = eosId(tokenizer);
  const examples = rows.map((row) => {
    const where = `${source} line ${row.line}`;
    const { ids, trained } = tokenizeRow(row, options, eos, where);
    const labels = ids.map((id, i) => (trained[i] ? id : IGNORE_INDEX));
    const trainedTokens = labels.reduce((n, l, i) => n + (i > 0 && l !== IGNORE_INDEX ? 1 : 0), 0);
    if (ids.length > maxLength) {
      throw new SftDataError(
        `${where}: the example is ${ids.length} tokens long, over the maximum of ${maxLength} (${options.maxLengthReason ?? 'the maximum length'}); ` +
          'shorten or split it (rows are never truncated silently)',
      );
    }
    if (trainedTokens === 0) {
      throw new SftDataError(
        `${where}: nothing to train on with loss mode '${lossMode}' (${ids.length} tokens, none of them a target)${lossMode === 'output' ? '; the chat has no assistant message' : ''}`,
      );
    }
    return { ids, labels, line: row.line, trainedTokens };
  });
  return examples;
}

/** The id appended after text and completions: the tokenizer's eos_token, else the first EOS id; null if none. */
export function eosId(tokenizer: TextTokenizer): number | null {
  if (tokenizer.eosToken !== null) {
    const id = tokenizer.tokenToId(tokenizer.eosToken);
    if (id !== undefined) return id;
  }
  return tokenizer.eosIds[0] ?? null;
}

function withEos(ids: number[], eos: number | null): number[] {
  return eos === null || ids[ids.length - 1] === eos ? ids : [...ids, eos];
}

/** Length of the common prefix of two id lists. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** Ids of one row and which of them are trained (before the shift: flag i means "learn ids[i]"). */
function tokenizeRow(row: SftRow, o: TokenizeSftOptions, eos: number | null, where: string): { ids: number[]; trained: boolean[] } {
  const { tokenizer, lossMode } = o;
  const wrongShape = (): never => {
    const want = lossMode === 'output' ? 'messages rows (it trains on assistant turns)' : 'prompt/completion rows (it trains on the completion)';
    const got = row.kind === 'text' ? '{"text"}' : row.kind === 'messages' ? '{"messages"}' : '{"prompt", "completion"}';
    throw new SftDataError(
      `${where}: loss mode '${lossMode}' needs ${want}, but this row is ${got}; use loss mode 'all' or ${lossMode === 'output' ? "'completion'" : "'output'"} for such rows`,
    );
  };
  switch (row.kind) {
    case 'text': {
      if (lossMode !== 'all') wrongShape();
      const ids = withEos(tokenizer.encode(row.text, { addSpecialTokens: true }), eos);
      return { ids, trained: ids.map(() => true) };
    }
    case 'prompt-completion': {
      if (lossMode === 'output') wrongShape();
      // The joint text is tokenized once (what the model sees); the prompt is the common prefix with the prompt's
      // own tokens, so a token straddling the boundary counts as completion: the model has to produce it.
      const ids = withEos(tokenizer.encode(row.prompt + row.completion, { addSpecialTokens: true }), eos);
      const start = lossMode === 'all' ? 0 : commonPrefix(tokenizer.encode(row.prompt, { addSpecialTokens: true }), ids);
      return { ids, trained: ids.map((_, i) => i >= start) };
    }
    case 'messages': {
      if (lossMode === 'completion') wrongShape();
      return chatTokens(row.messages, o, where);
    }
  }
}

/**
 * A chat's ids and its assistant spans. Each assistant turn i is located by rendering the conversation before it
 * with the generation prompt (everything up to the turn's content) and through it: both renderings must be
 * prefixes of the whole chat, and their token counts (common prefixes with the whole chat's ids) bound the span.
 * The span ends with the turn's end-of-turn token; what the template writes after it (Qwen's newline) is not
 * trained, since generation stops at that token.
 */
function chatTokens(messages: readonly ChatMessage[], o: TokenizeSftOptions, where: string): { ids: number[]; trained: boolean[] } {
  const template = o.chatTemplate;
  if (!template)
    throw new SftDataError(
      `${where}: a {"messages"} row needs the model's chat template, and this model has none (a base model?): pass --chat-template FILE, or use {"text"} or {"prompt", "completion"} rows`,
    );
  const render = (upTo: number, addGenerationPrompt: boolean): string => {
    try {
      return template.render(messages.slice(0, upTo), { addGenerationPrompt, ...(o.chatDate ? { date: o.chatDate } : {}) });
    } catch (e) {
      throw new SftDataError(`${where}: rendering the chat template failed: ${(e as Error).message}`);
    }
  };
  const full = render(messages.length, false);
  const ids = o.tokenizer.encode(full, { addSpecialTokens: true });
  const trained = ids.map(() => o.lossMode === 'all');
  if (o.lossMode === 'all') return { ids, trained };
  const eos = new Set(o.tokenizer.eosIds);
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const before = render(i, true);
    const through = render(i + 1, false);
    if (!full.startsWith(before) || !full.startsWith(through) || !through.startsWith(before)) {
      throw new SftDataError(
        `${where}: cannot locate assistant message ${i} in the rendered chat: the chat template renders earlier turns differently once later ones follow; use loss mode 'all'`,
      );
    }
    const start = commonPrefix(o.tokenizer.encode(before, { addSpecialTokens: true }), ids);
    let end = commonPrefix(o.tokenizer.encode(through, { addSpecialTokens: true }), ids);
    for (let t = end - 1; t >= start; t--) {
      if (eos.has(ids[t]!)) {
        end = t + 1;
        break;
      }
    }
    for (let t = start; t < end; t++) trained[t] = true;
  });
  return { ids, trained };
}
