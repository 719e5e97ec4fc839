/**
 * Chat templates: render `messages` with the Jinja `chat_template` of tokenizer_config.json (@huggingface/jinja), the way
 * transformers' apply_chat_template does, but reproducibly: `strftime_now` (Llama 3.x puts "Today Date: ..." in the
 * system header) formats a fixed, configurable date instead of the clock.
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { isJsonObject, specialTokenText, type JsonObject } from './special-tokens.ts';
import type { TextTokenizer } from './tokenizer.ts';

/** Thrown when a model has no chat template, the template does not parse, or rendering fails. */
export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

export interface ChatMessage {
  role: string;
  content: string;
  /** Templates may read more fields (tool_calls, name, ...); they are passed through. */
  [field: string]: unknown;
}

export interface ChatRenderOptions {
  /** End with the header that opens the assistant's turn. Default true (what generation wants). */
  addGenerationPrompt?: boolean;
  /** The date `strftime_now` formats, in UTC. Default DEFAULT_CHAT_DATE (26 Jul 2024); never today's date. */
  date?: Date;
  /** Tool definitions, for templates that support them. Left undefined when not given. */
  tools?: unknown[];
  /** Extra template variables (e.g. date_string for Llama 3, or anything a custom template reads). */
  variables?: Record<string, unknown>;
}

export interface ChatTemplateSource {
  /** Use this template text instead of tokenizer_config.json's chat_template (e.g. a chat_template.jinja file). */
  template?: string;
  /** For a chat_template given as a list of {name, template}: which one. Default "default". */
  name?: string;
}

/** The globals @huggingface/jinja's Template.render() declares (its setupGlobals is not exported). */
const JINJA_GLOBALS: Record<string, unknown> = {
  true: true,
  false: false,
  none: null,
  True: true,
  False: false,
  None: null,
  range: (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new ChatTemplateError('range() step must not be zero');
    const values: number[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) values.push(i);
    return values;
  },
  raise_exception: (message: string) => {
    throw new ChatTemplateError(`the chat template raised: ${message}`);
  },
};

/** 26 Jul 2024 (UTC): the date Llama 3.1/3.2's own template falls back to when strftime_now is unavailable. */
export const DEFAULT_CHAT_DATE: Date = new Date(Date.UTC(2024, 6, 26));

export class ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  private readonly template: Template;
  private readonly tokenStrings: Record<string, string>;

  /**
   * The chat template of a model. `tokenizerConfig` is the parsed tokenizer_config.json: it provides the template
   * (unless `source.template` is given) and the bos/eos/pad/unk token strings templates refer to.
   */
  constructor(tokenizerConfig: unknown, source: ChatTemplateSource = {}) {
    const config: JsonObject = isJsonObject(tokenizerConfig) ? tokenizerConfig : {};
    this.source = source.template ?? pickTemplate(config.chat_template, source.name ?? 'default');
    try {
      this.template = new Template(this.source);
    } catch (error) {
      throw new ChatTemplateError(`the chat template does not parse: ${(error as Error).message}`);
    }
    this.tokenStrings = {};
    for (const field of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const text = specialTokenText(config, field);
      if (text !== null) this.tokenStrings[field] = text;
    }
  }

  /** Whether tokenizer_config.json carries a chat template (stories260K, a base model, does not). */
  static has(tokenizerConfig: unknown): boolean {
    const template = isJsonObject(tokenizerConfig) ? tokenizerConfig.chat_template : undefined;
    return typeof template === 'string' || (Array.isArray(template) && template.length > 0);
  }

  /** The prompt text for `messages`. */
  render(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
    checkMessages(messages);
    const date = options.date ?? DEFAULT_CHAT_DATE;
    if (Number.isNaN(date.getTime())) throw new ChatTemplateError('render: options.date is an invalid Date');
    const variables: Record<string, unknown> = {
      ...JINJA_GLOBALS,
      // A fixed date instead of jinja's built-in strftime_now, which reads the clock (and the host's locale).
      strftime_now: (format: string) => strftime(date, format),
      ...this.tokenStrings,
      ...options.variables,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
    };
    if (options.tools !== undefined) variables.tools = options.tools;
    try {
      // Template.render() would declare jinja's own globals first and refuse to redeclare strftime_now, so this
      // builds the environment itself.
      const env = new Environment();
      for (const [name, value] of Object.entries(variables)) env.set(name, value);
      return String(new Interpreter(env).run(this.template.parsed).value);
    } catch (error) {
      if (error instanceof ChatTemplateError) throw error;
      throw new ChatTemplateError(`rendering the chat template failed: ${(error as Error).message}`);
    }
  }
}

/** Render `messages` with the chat template of `tokenizerConfig` (parses the template each call; keep a ChatTemplate to reuse it). */
export function renderChat(tokenizerConfig: unknown, messages: readonly ChatMessage[], options: ChatRenderOptions = {}): string {
  return new ChatTemplate(tokenizerConfig).render(messages, options);
}

/**
 * Render `messages` with the tokenizer's own chat template and encode the prompt. The templates that write BOS
 * themselves (Llama 3) still get exactly one BOS: encode() drops the duplicate the post-processor would add.
 */
export function encodeChat(
  tokenizer: TextTokenizer,
  messages: readonly ChatMessage[],
  options: ChatRenderOptions & { template?: ChatTemplate } = {},
): number[] {
  const template = options.template ?? new ChatTemplate(tokenizer.config);
  return tokenizer.encode(template.render(messages, options), { addSpecialTokens: true });
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's strftime for the directives chat templates use, in UTC with English names (locale-independent). */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return format.replace(/%(.)/g, (directive, code: string) => {
    switch (code) {
      case 'd':
        return pad(date.getUTCDate());
      case 'e':
        return String(date.getUTCDate()).padStart(2, ' ');
      case 'm':
        return pad(date.getUTCMonth() + 1);
      case 'b':
        return MONTHS[date.getUTCMonth()]!.slice(0, 3);
      case 'B':
        return MONTHS[date.getUTCMonth()]!;
      case 'y':
        return pad(date.getUTCFullYear() % 100);
      case 'Y':
        return String(date.getUTCFullYear());
      case 'a':
        return WEEKDAYS[date.getUTCDay()]!.slice(0, 3);
      case 'A':
        return WEEKDAYS[date.getUTCDay()]!;
      case 'H':
        return pad(date.getUTCHours());
      case 'M':
        return pad(date.getUTCMinutes());
      case 'S':
        return pad(date.getUTCSeconds());
      case '%':
        return '%';
      default:
        throw new ChatTemplateError(`strftime_now: unsupported directive ${directive}`);
    }
  });
}

function pickTemplate(chatTemplate: unknown, name: string): string {
  if (typeof chatTemplate === 'string') return chatTemplate;
  if (Array.isArray(chatTemplate)) {
    const named = chatTemplate.find((t) => isJsonObject(t) && t.name === name);
    if (isJsonObject(named) && typeof named.template === 'string') return named.template;
    const names = chatTemplate.map((t) => (isJsonObject(t) ? String(t.name) : '?')).join(', ');
    throw new ChatTemplateError(`tokenizer_config.json has no chat template named "${name}" (it has: ${names})`);
  }
  if (chatTemplate === undefined || chatTemplate === null) {
    throw new ChatTemplateError(
      'this model has no chat template (tokenizer_config.json has no "chat_template"): it is probably a base model; ' +
        'encode plain text instead, or pass a template explicitly',
    );
  }
  throw new ChatTemplateError(`tokenizer_config.json: "chat_template" must be a string or a list of {name, template}, got ${typeof chatTemplate}`);
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages)) throw new ChatTemplateError('render: messages must be an array of {role, content}');
  messages.forEach((message, i) => {
    if (!isJsonObject(message) || typeof message.role !== 'string' || typeof message.content !== 'string') {
      throw new ChatTemplateError(`render: messages[${i}] must be {role: string, content: string}, got ${JSON.stringify(message)}`);
    }
  });
}
