/**
 * The five self-edit prompts, byte for byte (docs/reference/seal-knowledge.md §2.2). The expected texts are written
 * out here from the reference's templates (make_squad_data.py MAKE_SQUAD_DATA_TEMPLATES_BASE), not produced by the
 * code under test; the implications prompt is also checked against the `prompt` the reference itself stored with
 * each of its 200 GPT-4.1 records.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSelfEditPromptKind, parseSquadDataset, SELF_EDIT_PROMPT_KINDS, selfEditPromptText } from '../../src/domains/knowledge/index.ts';
import { sharedPath } from '../harness/shared.ts';

const EXAMPLE = new URL('../../examples/data/squad/gpt4_1_synthetic_val_first20.json', import.meta.url);
const example = parseSquadDataset(readFileSync(EXAMPLE, 'utf8'), 'example');
const passage = example.passages[0]!;
const { title, context } = passage;

describe('self-edit prompts', () => {
  it('the passage is the one the expectations are written for', () => {
    expect(title).toBe('Genghis Khan');
    expect(context.startsWith("The Shah's army was split by diverse internecine feuds")).toBe(true);
    expect(context.endsWith('The Shah died under mysterious circumstances on a small island within his empire.')).toBe(true);
  });

  it('implications', () => {
    expect(selfEditPromptText('implications', passage)).toBe(
      "Let's read the following passage and produce a list of implications derived directly or indirectly from the content.\n\nPassage:\n" +
        `${title}\n${context}\n\nImplications:\n`,
    );
  });

  it('implications-long', () => {
    expect(selfEditPromptText('implications-long', passage)).toBe(
      "Let's read the following passage and produce a long list of implications derived directly or indirectly from the content.\n\nPassage:\n" +
        `${title}\n${context}\n\nImplications:\n`,
    );
  });

  it('implications-very-long', () => {
    expect(selfEditPromptText('implications-very-long', passage)).toBe(
      "Let's read the following passage and produce a very long list of implications derived directly or indirectly from the content.\n\nPassage:\n" +
        `${title}\n${context}\n\nImplications:\n`,
    );
  });

  it('rewrite', () => {
    expect(selfEditPromptText('rewrite', passage)).toBe(
      "Let's read the following passage and rewrite it in a few different ways, each one separated by a newline.\n\nPassage:\n" +
        `${title}\n${context}\n\nRewritten passages:\n`,
    );
  });

  it('self-qa ends with "Question 1: " and its trailing space', () => {
    const text = selfEditPromptText('self-qa', passage);
    expect(text).toBe(`Let's read the following passage and rewrite it in a question-answer format.\n\nPassage:\n${title}\n${context}\n\nQuestion 1: `);
    expect(text.endsWith(': ')).toBe(true);
  });

  it('the title and context go in unchanged (no stripping, no escaping)', () => {
    const odd = { title: ' {x} ', context: '  a {context}\n\n' };
    expect(selfEditPromptText('rewrite', odd)).toContain('Passage:\n {x} \n  a {context}\n\n\n\nRewritten passages:\n');
  });

  it('implications equals the prompt the reference stored with every GPT-4.1 record (200 passages)', () => {
    const records = JSON.parse(readFileSync(sharedPath('data/squad/gpt4_1_synthetic_val.json'), 'utf8')) as { prompt: string }[];
    const data = parseSquadDataset(records, 'gpt4_1_synthetic_val.json');
    expect(data.passages.length).toBe(200);
    const mismatched = data.passages.filter((p) => selfEditPromptText('implications', p) !== records[p.id]!.prompt).map((p) => p.id);
    expect(mismatched).toEqual([]);
  });

  it('names exactly the five kinds', () => {
    expect([...SELF_EDIT_PROMPT_KINDS]).toEqual(['implications', 'implications-long', 'implications-very-long', 'rewrite', 'self-qa']);
    expect(isSelfEditPromptKind('self-qa')).toBe(true);
    expect(isSelfEditPromptKind('Implications')).toBe(false);
  });
});
