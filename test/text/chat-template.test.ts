import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTemplate, ChatTemplateError, DEFAULT_CHAT_DATE, encodeChat, renderChat, strftime, type ChatMessage } from '../../src/text/chat-template.ts';
import type { TextTokenizer } from '../../src/text/tokenizer.ts';
import { LLAMA_DIR, QWEN_DIR, STORIES_DIR, loadDir, readJsonFile } from './load.ts';

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4.' },
  { role: 'user', content: 'And 3+3?' },
];

const LLAMA_SYSTEM_HEADER = '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n';

describe('Llama 3.2 chat template', () => {
  let llama: TextTokenizer;
  let template: ChatTemplate;
  beforeAll(async () => {
    llama = await loadDir(LLAMA_DIR);
    template = new ChatTemplate(llama.config);
  });

  it('renders the system header with a fixed date and the turn headers', () => {
    const prompt = template.render(CONVERSATION);
    expect(prompt).toBe(
      '<|begin_of_text|>' +
        LLAMA_SYSTEM_HEADER +
        'You are a helpful assistant.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('leaves the system message empty when none is given, and the generation prompt out when asked', () => {
    const prompt = template.render([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false });
    expect(prompt).toBe(`<|begin_of_text|>${LLAMA_SYSTEM_HEADER}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>`);
  });

  it('uses the configured date, never the clock', () => {
    const prompt = template.render([{ role: 'user', content: 'Hi' }], { date: new Date(Date.UTC(2025, 0, 5, 23, 59)) });
    expect(prompt).toContain('Today Date: 05 Jan 2025\n');
    expect(template.render([{ role: 'user', content: 'Hi' }], { variables: { date_string: '1 Apr 2030' } })).toContain('Today Date: 1 Apr 2030\n');
    expect(strftime(DEFAULT_CHAT_DATE, '%d %b %Y')).toBe('26 Jul 2024');
  });

  it('tokenizes with BOS exactly once', () => {
    const ids = encodeChat(llama, CONVERSATION, { template });
    expect(ids[0]).toBe(128000);
    expect(ids.filter((id) => id === 128000).length).toBe(1);
    // Same ids as the rendered text encoded without special tokens (what transformers' apply_chat_template does).
    expect(ids).toEqual(llama.encode(template.render(CONVERSATION), { addSpecialTokens: false }));
    expect(ids.slice(1, 5)).toEqual([128006, llama.tokenToId('system'), 128007, llama.tokenToId('ĊĊ')]);
    expect(ids.filter((id) => id === 128009).length).toBe(4);
    expect(ids.slice(-4)).toEqual([128006, llama.tokenToId('assistant'), 128007, llama.tokenToId('ĊĊ')]);
    expect(llama.decode(ids, { skipSpecialTokens: true })).toContain('Today Date: 26 Jul 2024');
  });
});

describe('Qwen2.5 chat template (ChatML)', () => {
  let qwen: TextTokenizer;
  let template: ChatTemplate;
  beforeAll(async () => {
    qwen = await loadDir(QWEN_DIR);
    template = new ChatTemplate(qwen.config);
  });

  it('adds the default system prompt when none is given', () => {
    expect(template.render([{ role: 'user', content: 'Hi' }])).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('uses the given system prompt and renders every turn', () => {
    expect(template.render(CONVERSATION, { addGenerationPrompt: false })).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n4.<|im_end|>\n' +
        '<|im_start|>user\nAnd 3+3?<|im_end|>\n',
    );
  });

  it('tokenizes with no BOS, ChatML tokens as single ids', () => {
    const ids = encodeChat(qwen, [{ role: 'user', content: 'Hi' }], { template });
    expect(ids[0]).toBe(151644);
    expect(ids.filter((id) => id === 151644).length).toBe(3);
    expect(ids.filter((id) => id === 151645).length).toBe(2);
    expect(ids.slice(-3)).toEqual([151644, qwen.tokenToId('assistant'), qwen.tokenToId('Ċ')]);
  });

  it('renders tools when given', () => {
    const tool = { type: 'function', function: { name: 'add', parameters: {} } };
    const prompt = template.render([{ role: 'user', content: 'Hi' }], { tools: [tool] });
    expect(prompt).toContain('<tools>\n{"type": "function", "function": {"name": "add", "parameters": {}}}\n</tools>');
  });
});

describe('chat template errors and helpers', () => {
  it('reports a model without a chat template (stories260K)', async () => {
    const config = await readJsonFile(`${STORIES_DIR}/tokenizer_config.json`);
    expect(ChatTemplate.has(config)).toBe(false);
    expect(() => new ChatTemplate(config)).toThrow(ChatTemplateError);
    expect(() => renderChat(config, [{ role: 'user', content: 'Hi' }])).toThrow(/this model has no chat template/);
    const stories = await loadDir(STORIES_DIR);
    expect(() => encodeChat(stories, [{ role: 'user', content: 'Hi' }])).toThrow(/no chat template/);
  });

  it('accepts an explicit template and a named template list', () => {
    const config = {
      bos_token: '<s>',
      chat_template: [
        { name: 'default', template: '{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}' },
        { name: 'rag', template: 'RAG' },
      ],
    };
    expect(ChatTemplate.has(config)).toBe(true);
    expect(renderChat(config, [{ role: 'user', content: 'x' }])).toBe('<s>[user]x');
    expect(new ChatTemplate(config, { name: 'rag' }).render([])).toBe('RAG');
    expect(() => new ChatTemplate(config, { name: 'tool_use' })).toThrow(/no chat template named "tool_use" \(it has: default, rag\)/);
    expect(new ChatTemplate({}, { template: '{% for i in range(3) %}{{ i }}{% endfor %}{{ eos_token is defined }}' }).render([])).toBe('012false');
  });

  it('turns template failures into ChatTemplateError', () => {
    expect(() => new ChatTemplate({}, { template: '{% if %}' })).toThrow(/does not parse/);
    expect(() => new ChatTemplate({}, { template: "{{ raise_exception('roles must alternate') }}" }).render([])).toThrow(
      /the chat template raised: roles must alternate/,
    );
    expect(() => new ChatTemplate({}, { template: 'x' }).render([{ role: 'user' } as unknown as ChatMessage])).toThrow(/messages\[0\] must be/);
    expect(() => new ChatTemplate({}, { template: '{{ strftime_now("%Q") }}' }).render([])).toThrow(/unsupported directive %Q/);
  });

  it('formats dates like Python strftime, in UTC', () => {
    const date = new Date(Date.UTC(2023, 11, 3, 7, 5, 9)); // a Sunday
    expect(strftime(date, '%Y-%m-%d %H:%M:%S')).toBe('2023-12-03 07:05:09');
    expect(strftime(date, '%a %A %b %B %y %e %%')).toBe('Sun Sunday Dec December 23  3 %');
  });
});
