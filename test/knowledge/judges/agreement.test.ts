/** Judge agreement: counts, agreement rate and Cohen's kappa worked by hand; several real judges on the same items. */
import { describe, expect, it } from 'vitest';
import { gradeWithJudges, pairAgreement } from '../../../src/domains/knowledge/judges/agreement.ts';
import { SquadJudge } from '../../../src/domains/knowledge/judges/squad-judge.ts';

describe('pairAgreement', () => {
  it("counts the four cells, the agreement rate and Cohen's kappa", () => {
    const a = [true, true, true, false, false, false, true, false, true, true];
    const b = [true, true, false, false, false, true, true, false, false, true];
    // both correct: items 0 1 6 9 = 4; both wrong: 3 4 7 = 3; a only: 2 8 = 2; b only: 5 = 1
    // p_o = 7/10; p_a = 6/10, p_b = 5/10; p_e = 0.6·0.5 + 0.4·0.5 = 0.5; kappa = (0.7 − 0.5)/(1 − 0.5) = 0.4
    const p = pairAgreement('A', a, 'B', b);
    expect(p).toMatchObject({ a: 'A', b: 'B', n: 10, bothCorrect: 4, bothWrong: 3, onlyA: 2, onlyB: 1 });
    expect(p.agreement).toBeCloseTo(0.7, 15);
    expect(p.kappa).toBeCloseTo(0.4, 15);
  });

  it('kappa is undefined (null) when both judges say the same thing every time; nothing compared: both null', () => {
    const same = pairAgreement('A', [true, true], 'B', [true, true]);
    expect([same.agreement, same.kappa]).toEqual([1, null]);
    const none = pairAgreement('A', [], 'B', []);
    expect([none.agreement, none.kappa]).toEqual([null, null]);
    expect(() => pairAgreement('A', [true], 'B', [])).toThrow(/A judged 1 items, B 0/);
  });
});

describe('gradeWithJudges', () => {
  it('runs every judge on the same items and compares each pair', async () => {
    const items = [
      { question: 'q', gold: 'Denver Broncos', prediction: 'Denver Broncos' }, // F1 1
      { question: 'q', gold: 'Denver Broncos', prediction: 'the Broncos' }, // F1 2/3
      { question: 'q', gold: 'Denver Broncos', prediction: 'It was the Denver Broncos who won the game' }, // F1 4/9
      { question: 'q', gold: 'London', prediction: 'Paris' }, // F1 0
    ];
    const judges = [new SquadJudge(), new SquadJudge({ f1Threshold: null }), new SquadJudge({ f1Threshold: 0.4 })];
    const { verdicts, agreement } = await gradeWithJudges(judges, items);
    expect(verdicts.map((v) => [v.judge, v.verdicts.map((x) => x.correct)])).toEqual([
      ['squad', [true, true, false, false]],
      ['squad:em', [true, false, false, false]],
      ['squad:f1=0.4', [true, true, true, false]],
    ]);
    // squad vs squad:em: TT TF FF FF -> 1, 2, 1, 0; p_o 3/4; p_a 1/2, p_b 1/4; p_e 1/8 + 3/8 = 1/2; kappa 1/2
    // squad vs squad:f1=0.4: TT TT FT FF -> 2, 1, 0, 1; p_o 3/4; p_a 1/2, p_b 3/4; p_e 3/8 + 1/8 = 1/2; kappa 1/2
    // squad:em vs squad:f1=0.4: TT FT FT FF -> 1, 1, 0, 2; p_o 1/2; p_a 1/4, p_b 3/4; p_e 3/16 + 3/16 = 3/8;
    //   kappa (1/2 − 3/8)/(5/8) = 1/5
    expect(agreement.map((p) => [p.a, p.b, p.bothCorrect, p.bothWrong, p.onlyA, p.onlyB])).toEqual([
      ['squad', 'squad:em', 1, 2, 1, 0],
      ['squad', 'squad:f1=0.4', 2, 1, 0, 1],
      ['squad:em', 'squad:f1=0.4', 1, 1, 0, 2],
    ]);
    expect(agreement.map((p) => p.agreement)).toEqual([0.75, 0.75, 0.5]);
    const kappas = agreement.map((p) => p.kappa!);
    expect(kappas[0]).toBeCloseTo(0.5, 15);
    expect(kappas[1]).toBeCloseTo(0.5, 15);
    expect(kappas[2]).toBeCloseTo(0.2, 15);
  });

  it('refuses a judge listed twice', async () => {
    await expect(gradeWithJudges([new SquadJudge(), new SquadJudge()], [])).rejects.toThrow(/squad is listed twice/);
  });
});
