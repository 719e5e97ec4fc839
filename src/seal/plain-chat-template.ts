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

/** The model's own template (from tokenizer_config / chat_template.jinja), else the plain stand-in. */
export function chatTemplateOrPlain(own: ChatTemplate | null, tokenizerConfig: unknown): { template: ChatTemplate; kind: 'model' | 'plain' } {
  if (own) return { template: own, kind: 'model' };
  return { template: new ChatTemplate(tokenizerConfig, { template: PLAIN_CHAT_TEMPLATE }), kind: 'plain' };
}
