/** Judge specs: every form, and the one-line error listing them. */
import { describe, expect, it } from 'vitest';
import { JUDGE_SPEC_FORMS, JudgeSpecError, parseJudgeList, parseJudgeSpec } from '../../../src/domains/knowledge/judges/judge-spec.ts';

describe('parseJudgeSpec', () => {
  it('reads every form', () => {
    expect(parseJudgeSpec('squad')).toEqual({ kind: 'squad', name: 'squad', rule: { f1Threshold: 0.5 } });
    expect(parseJudgeSpec('squad:em')).toEqual({ kind: 'squad', name: 'squad:em', rule: { f1Threshold: null } });
    expect(parseJudgeSpec('squad:f1=0.8')).toEqual({ kind: 'squad', name: 'squad:f1=0.8', rule: { f1Threshold: 0.8 } });
    expect(parseJudgeSpec('squad:f1=0.5').name).toBe('squad'); // the default rule has one name
    expect(parseJudgeSpec('model:Qwen/Qwen2.5-7B-Instruct')).toEqual({
      kind: 'model',
      name: 'model:Qwen/Qwen2.5-7B-Instruct',
      model: 'Qwen/Qwen2.5-7B-Instruct',
    });
    expect(parseJudgeSpec('model:./models/judge:v2')).toMatchObject({ kind: 'model', model: './models/judge:v2' });
    expect(parseJudgeSpec(' openai:gpt-4.1 ')).toEqual({ kind: 'openai', name: 'openai:gpt-4.1', model: 'gpt-4.1' });
  });

  it.each([
    ['exact', /^unknown judge 'exact': a judge is one of squad \(exact match, or F1 >= 0\.5\), squad:em, squad:f1=T .*, model:<dir\|hub-id>, openai:<model>$/],
    ['', /^unknown judge ''/],
    ['squad:f1=', /^the F1 threshold of 'squad:f1='/],
    ['squad:f1=1.5', /^the F1 threshold of 'squad:f1=1\.5'/],
    ['squad:f1=x', /^the F1 threshold of/],
    ['model:', /^no model directory or Hub id in 'model:'/],
    ['openai: ', /^no model name in 'openai: '/],
    ['gpt-4.1', /^unknown judge 'gpt-4\.1'/],
  ])('%j is refused with the forms listed', (text, message) => {
    expect(() => parseJudgeSpec(text)).toThrow(JudgeSpecError);
    expect(() => parseJudgeSpec(text)).toThrow(message);
    expect(() => parseJudgeSpec(text)).toThrow(JUDGE_SPEC_FORMS);
  });
});

describe('parseJudgeList', () => {
  it('reads a comma list, each judge once', () => {
    expect(parseJudgeList('squad,openai:gpt-4.1,squad:em').map((s) => s.name)).toEqual(['squad', 'openai:gpt-4.1', 'squad:em']);
    expect(() => parseJudgeList('squad,squad:f1=0.5')).toThrow(/the judge squad is listed twice/);
    expect(() => parseJudgeList('squad,')).toThrow(/unknown judge ''/);
  });
});
