/**
 * The chat template a command renders with, chosen one way for every command that uses one (seal generate --chat,
 * seal sft on {"messages"} rows, seal arc show|dataset|train|eval|baseline): `--chat-template FILE` (a Jinja template
 * file) when given, else the model's own (chat_template.jinja, else tokenizer_config.json's chat_template), else, for
 * the commands that allow it (the SEAL domains), the plain stand-in of src/seal/plain-chat-template.ts.
 *
 * The flag's file is read and parsed by readChatTemplateFlag before anything else happens (a run directory is
 * created or a model loaded), so a typo costs nothing.
 */
import { readFileSync } from 'node:fs';
import { readChatTemplate, type ModelFiles } from '../src/inference/load-model.ts';
import { chatTemplateOrPlain } from '../src/seal/plain-chat-template.ts';
import { ChatTemplate, ChatTemplateError } from '../src/text/chat-template.ts';
import type { TextTokenizer } from '../src/text/tokenizer.ts';
import { UsageError } from './flags.ts';

/** The `--chat-template` option for parseArgs. */
export const CHAT_TEMPLATE_OPTION = { 'chat-template': { type: 'string' } } as const;

/** A --chat-template file, read and checked to parse. */
export interface ChatTemplateFile {
  file: string;
  text: string;
}

/** Where the template in use came from: the flag's file, the model, or the plain stand-in. */
export type ChatTemplateKind = 'file' | 'model' | 'plain';

/** --chat-template's value read and parsed (undefined when absent); a missing or unparsable file is one UsageError line. */
export function readChatTemplateFlag(file: string | undefined): ChatTemplateFile | undefined {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--chat-template: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; pass a Jinja chat template file`);
  }
  try {
    new ChatTemplate({}, { template: text });
  } catch (e) {
    throw new UsageError(`--chat-template: ${file} is not a usable Jinja template (${(e as Error).message.replace(/^the chat template /, '')})`);
  }
  return { file, text };
}

/**
 * The template to render with: the flag's file, else the model's (`own`), else the plain stand-in when `fallback` is
 * 'plain' (with fallback 'none', a model without a template gives null and the command says what to do).
 */
export function chatTemplateFor(
  own: ChatTemplate | null,
  tokenizerConfig: unknown,
  flag: ChatTemplateFile | undefined,
  fallback: 'plain' | 'none',
): { template: ChatTemplate; kind: ChatTemplateKind } | null {
  if (flag) return { template: new ChatTemplate(tokenizerConfig, { template: flag.text }), kind: 'file' };
  if (own === null && fallback === 'none') return null;
  return chatTemplateOrPlain(own, tokenizerConfig);
}

/** chatTemplateFor with the model's own template read from its files. */
export async function chooseChatTemplate(
  files: ModelFiles,
  tokenizer: TextTokenizer,
  flag: ChatTemplateFile | undefined,
  fallback: 'plain' | 'none',
): Promise<{ template: ChatTemplate; kind: ChatTemplateKind } | null> {
  return chatTemplateFor(flag ? null : await readChatTemplate(files, tokenizer), tokenizer.config, flag, fallback);
}

/** The error of a command that needs a chat template the model does not have. */
export function noChatTemplateError(where: string, instead: string): ChatTemplateError {
  return new ChatTemplateError(
    `the model in ${where} has no chat template (no chat_template.jinja, no chat_template in tokenizer_config.json): pass --chat-template FILE, or ${instead}`,
  );
}
