/**
 * A stand-in chat template for models that have none (base models such as stories260K), so the chat-shaped prompts
 * and training rows of the SEAL domains still render: the system text, a blank line, the user text and a newline,
 * then the assistant's text ended by the EOS token (what training teaches the model to stop with). It adds no
 * generation prompt: the assistant's text follows the user's line directly. Short on purpose: tiny models have
 * small contexts.
 */
import { ChatTemplate } from '../text/chat-template.ts';

export const PLAIN_CHAT_TEMPLATE = [
  '{%- for message in messages -%}',
  "{%- if message['role'] == 'system' -%}{{ message['content'] }}{{ '\\n\\n' }}",
  "{%- elif message['role'] == 'user' -%}{{ message['content'] }}{{ '\\n' }}",
  "{%- else -%}{{ message['content'] }}{{ eos_token }}",
  '{%- endif -%}',
  '{%- endfor -%}',
].join('');

/**
 * The template of a domain whose prompts are plain text (Domain.promptFormat 'plain'): each message's content as it
 * is, nothing around it, and no generation prompt; an assistant's text (a training completion) is ended by the EOS
 * token, as TRL ends a prompt-completion example.
 */
export const VERBATIM_TEMPLATE = [
  '{%- for message in messages -%}',
  "{{ message['content'] }}",
  "{%- if message['role'] == 'assistant' -%}{{ eos_token }}{%- endif -%}",
  '{%- endfor -%}',
].join('');

/** The template a domain's prompts are rendered with: VERBATIM_TEMPLATE for plain prompts, else chatTemplateOrPlain's. */
export function promptTemplate(
  format: 'chat' | 'plain' | undefined,
  own: ChatTemplate | null,
  tokenizerConfig: unknown,
): { template: ChatTemplate; kind: 'model' | 'plain' | 'verbatim' } {
  if (format === 'plain') return { template: new ChatTemplate(tokenizerConfig, { template: VERBATIM_TEMPLATE }), kind: 'verbatim' };
  return chatTemplateOrPlain(own, tokenizerConfig);
}

/** The model's own template (from tokenizer_config / chat_template.jinja), else the plain stand-in. */
export function chatTemplateOrPlain(own: ChatTemplate | null, tokenizerConfig: unknown): { template: ChatTemplate; kind: 'model' | 'plain' } {
  if (own) return { template: own, kind: 'model' };
  return { template: new ChatTemplate(tokenizerConfig, { template: PLAIN_CHAT_TEMPLATE }), kind: 'plain' };
}
