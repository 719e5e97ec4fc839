/**
 * SFT data: JSONL parsing with line-numbered errors, and ids + labels per loss mode with the real stories260K,
 * Llama-3.2 and Qwen2.5 tokenizers and chat templates (no GPU).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../src/text/chat-template.ts';
import type { TextTokenizer } from '../../src/text/tokenizer.ts';
import { IGNORE_INDEX } from '../../src/train/batch.ts';
import { defaultLossMode, parseSftJsonl, tokenizeSftRows, type LossMode, type SftDataRow, type SftExample } from '../../src/train/sft-data.ts';
import { LLAMA_DIR, loadDir, QWEN_DIR, STORIES_DIR } from '../text/load.ts';

/** The trained stretches of an example, decoded: what the loss covers. */
function trainedSpans(tok: TextTokenizer, e: SftExample): string[] {
  const spans: string[] = [];
  let run: number[] = [];
  e.labels.forEach((l, i) => {
    if (l !== IGNORE_INDEX && i > 0) run.push(e.ids[i]!);
    else if (run.length) {
      spans.push(tok.decode(run));
      run = [];
    }
  });
  if (run.length) spans.push(tok.decode(run));
  return spans;
}

const CHAT = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi there' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: 'Again' },
  { role: 'assistant', content: 'Hello again.' },
];

function rows(...objects: unknown[]): SftDataRow[] {
  return parseSftJsonl(objects.map((o) => JSON.stringify(o)).join('\n'), 'data.jsonl');
}

describe('SFT data', () => {
  let stories: TextTokenizer, llama: TextTokenizer, qwen: TextTokenizer;
  beforeAll(async () => {
    [stories, llama, qwen] = await Promise.all([loadDir(STORIES_DIR), loadDir(LLAMA_DIR), loadDir(QWEN_DIR)]);
  });
  const opts = (tokenizer: TextTokenizer, lossMode: LossMode, maxLength = 4096) => ({
    tokenizer,
    lossMode,
    maxLength,
    source: 'data.jsonl',
    chatTemplate: tokenizer === stories ? null : new ChatTemplate(tokenizer.config),
  });

  it('parses the three row shapes, skipping blank lines (CRLF too), and names lines in every error', () => {
    const text = '\uFEFF{"text": "a"}\r\n\n{"messages": [{"role": "user", "content": "q"}], "id": 7}\n  \n{"prompt": "p", "completion": "c"}\n';
    expect(parseSftJsonl(text, 'd.jsonl')).toEqual([
      { kind: 'text', text: 'a', line: 1 },
      { kind: 'messages', messages: [{ role: 'user', content: 'q' }], line: 3 },
      { kind: 'prompt-completion', prompt: 'p', completion: 'c', line: 5 },
    ]);
    expect(() => parseSftJsonl('{"text": "a"}\n{"text": "b"\n', 'd.jsonl')).toThrow(/^d\.jsonl line 2: not valid JSON/);
    expect(() => parseSftJsonl('{"input": "a", "output": "b"}', 'd.jsonl')).toThrow(
      /d\.jsonl line 1: unknown row shape with keys \[input, output\]; expected \{"text"/,
    );
    expect(() => parseSftJsonl('{"text": "a", "prompt": "b", "completion": "c"}', 'd.jsonl')).toThrow(
      /line 1: ambiguous row: it has "text" and "prompt" and "completion"/,
    );
    expect(() => parseSftJsonl('{"prompt": "a"}', 'd.jsonl')).toThrow(
      /line 1: "prompt" and "completion" must both be strings, got prompt "a" and completion nothing/,
    );
    expect(() => parseSftJsonl('{"messages": [{"role": "user"}]}', 'd.jsonl')).toThrow(/line 1: messages\[0\] must be \{"role": string, "content": string\}/);
    expect(() => parseSftJsonl('{"messages": []}', 'd.jsonl')).toThrow(/line 1: "messages" must be a non-empty list/);
    expect(() => parseSftJsonl('[1, 2]', 'd.jsonl')).toThrow(/line 1: expected a JSON object/);
    expect(() => parseSftJsonl('{"text": 3}', 'd.jsonl')).toThrow(/line 1: "text" must be a string, got 3/);
    expect(() => parseSftJsonl('\n \n', 'd.jsonl')).toThrow(/^d\.jsonl: no training examples/);
    expect(() => parseSftJsonl('', 'd.jsonl')).toThrow(/no training examples/);
  });

  it('picks the natural loss mode of the data', () => {
    expect(defaultLossMode(rows({ messages: CHAT }))).toBe('output');
    expect(defaultLossMode(rows({ prompt: 'a', completion: 'b' }))).toBe('completion');
    expect(defaultLossMode(rows({ text: 'a' }, { prompt: 'a', completion: 'b' }))).toBe('all');
  });

  it("'all' on text: BOS as the tokenizer adds it, EOS appended once, every token trained", () => {
    const [e, already] = tokenizeSftRows(rows({ text: 'Once upon a time' }, { text: 'The end.</s>' }), opts(stories, 'all'));
    const plain = stories.encode('Once upon a time', { addSpecialTokens: false });
    expect(e!.ids).toEqual([1, ...plain, 2]);
    expect(e!.labels).toEqual(e!.ids);
    expect(e!.trainedTokens).toBe(plain.length + 1);
    expect(e!.line).toBe(1);
    expect(already!.ids.filter((id) => id === 2).length, 'no second EOS when the text ends with it').toBe(1);
    // Qwen2.5 has no BOS: none is invented.
    const [q] = tokenizeSftRows(rows({ text: 'Hello' }), opts(qwen, 'all'));
    expect(q!.ids).toEqual([...qwen.encode('Hello'), qwen.tokenToId('<|im_end|>')]);
  });

  it("'completion' trains the completion and its EOS; a token straddling the boundary counts as completion", () => {
    const [e] = tokenizeSftRows(rows({ prompt: 'Question: 2+2?\nAnswer:', completion: ' 4' }), opts(llama, 'completion'));
    expect(e!.ids[0]).toBe(128000);
    expect(trainedSpans(llama, e!)).toEqual([' 4<|eot_id|>']);
    const prompt = llama.encode('Question: 2+2?\nAnswer:');
    expect(e!.ids.slice(0, prompt.length)).toEqual(prompt);
    expect(e!.labels.slice(0, prompt.length).every((l) => l === IGNORE_INDEX)).toBe(true);
    // "Answer: " + "yes": the joint text has the token " yes", which the prompt alone does not end with.
    const [straddle] = tokenizeSftRows(rows({ prompt: 'Answer: ', completion: 'yes' }), opts(llama, 'completion'));
    expect(trainedSpans(llama, straddle!)).toEqual([' yes<|eot_id|>']);
    // 'all' on the same row trains everything after BOS.
    const [all] = tokenizeSftRows(rows({ prompt: 'Answer: ', completion: 'yes' }), opts(llama, 'all'));
    expect(all!.trainedTokens).toBe(all!.ids.length - 1);
  });

  it("'output' trains each assistant turn and its end-of-turn token (Llama-3.2 template), with one BOS", () => {
    const [e] = tokenizeSftRows(rows({ messages: CHAT }), opts(llama, 'output'));
    expect(e!.ids[0]).toBe(128000);
    expect(e!.ids[1]).not.toBe(128000);
    expect(trainedSpans(llama, e!)).toEqual(['Hello!<|eot_id|>', 'Hello again.<|eot_id|>']);
    // The rendered chat is tokenized as a whole: the ids are those of the template's text.
    const text = new ChatTemplate(llama.config).render(CHAT, { addGenerationPrompt: false });
    expect(e!.ids).toEqual(llama.encode(text));
    // 'all': every token, no EOS appended after the template's own end-of-turn.
    const [all] = tokenizeSftRows(rows({ messages: CHAT }), opts(llama, 'all'));
    expect(all!.ids).toEqual(e!.ids);
    expect(all!.trainedTokens).toBe(all!.ids.length - 1);
  });

  it("'output' with the Qwen2.5 template: <|im_end|> is trained, the newline after it is not", () => {
    const [e] = tokenizeSftRows(rows({ messages: CHAT }, { messages: CHAT.slice(1, 3) }), opts(qwen, 'output'));
    expect(trainedSpans(qwen, e!)).toEqual(['Hello!<|im_end|>', 'Hello again.<|im_end|>']);
    const last = e!.ids.length - 1;
    expect(qwen.decode([e!.ids[last]!])).toBe('\n');
    expect(e!.labels[last]).toBe(IGNORE_INDEX);
    // Without a system message the template inserts its default one; the assistant span is still found.
    const [, second] = tokenizeSftRows(rows({ messages: CHAT }, { messages: CHAT.slice(1, 3) }), opts(qwen, 'output'));
    expect(trainedSpans(qwen, second!)).toEqual(['Hello!<|im_end|>']);
    expect(qwen.decode(second!.ids)).toContain('You are Qwen');
  });

  it('rejects rows that do not fit the loss mode, the model or the context, naming the line', () => {
    expect(() => tokenizeSftRows(rows({ messages: CHAT }, { text: 'a' }), opts(llama, 'output'))).toThrow(
      /data\.jsonl line 2: loss mode 'output' needs messages rows \(it trains on assistant turns\), but this row is \{"text"\}/,
    );
    expect(() => tokenizeSftRows(rows({ messages: CHAT }), opts(llama, 'completion'))).toThrow(/line 1: loss mode 'completion' needs prompt\/completion rows/);
    expect(() => tokenizeSftRows(rows({ messages: CHAT.slice(0, 2) }), opts(llama, 'output'))).toThrow(
      /line 1: nothing to train on with loss mode 'output'.*no assistant message/,
    );
    expect(() => tokenizeSftRows(rows({ messages: CHAT }), opts(stories, 'all'))).toThrow(
      /line 1: a \{"messages"\} row needs the model's chat template, and this model has none/,
    );
    const long = { text: 'Once upon a time there was a little dog. '.repeat(20) };
    expect(() =>
      tokenizeSftRows(rows({ text: 'short' }, long), { ...opts(stories, 'all', 64), maxLengthReason: "the model's max_position_embeddings" }),
    ).toThrow(/data\.jsonl line 2: the example is \d+ tokens long, over the maximum of 64 \(the model's max_position_embeddings\)/);
  });
});
