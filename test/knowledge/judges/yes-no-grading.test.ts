/** The reference's grading prompt, byte for byte, and its yes/no rule on constructed replies. */
import { describe, expect, it } from 'vitest';
import { gradingPrompt, needsGrader, yesNoVerdict } from '../../../src/domains/knowledge/judges/yes-no-grading.ts';

describe('gradingPrompt', () => {
  it("is the reference's SQUAD_GRADE_TEMPLATE, byte for byte, with the prediction stripped", () => {
    const expected =
      "You are a grading assistant. Your job is to determine whether a student's answer correctly answers the question based solely on the provided gold answer. Do not use any outside knowledge. The student answer can include additional information, but it must at least fully convey the gold answer and must not contradict it. Ignore style, phrasing, or extra details that do not affect correctness. Respond ONLY with 'yes' or 'no'.\n" +
      '\n' +
      'Question: Topic: Super Bowl 50\nWhich NFL team represented the AFC at Super Bowl 50?\n' +
      'Gold answer: Denver Broncos\n' +
      'Student answer: The Denver Broncos represented the AFC.\n' +
      "Is the student answer correct based solely on the gold answer? Respond 'yes' or 'no'.";
    const prompt = gradingPrompt(
      'Topic: Super Bowl 50\nWhich NFL team represented the AFC at Super Bowl 50?',
      'Denver Broncos',
      ' \n The Denver Broncos represented the AFC.\n\n',
    );
    expect(prompt).toBe(expected);
    expect(prompt.length).toBe(expected.length);
  });

  it('strips only the prediction (p.strip()), with Python whitespace', () => {
    const prompt = gradingPrompt(' q ', ' g ', '\u00a0\x1fanswer\u2003');
    expect(prompt).toContain('\nQuestion:  q \nGold answer:  g \nStudent answer: answer\n');
  });

  it('an all-whitespace prediction needs no grader', () => {
    expect(needsGrader('')).toBe(false);
    expect(needsGrader(' \n\t\u00a0')).toBe(false);
    expect(needsGrader(' x ')).toBe(true);
  });
});

describe('yesNoVerdict: the word yes and not the word no, case-insensitive', () => {
  it.each([
    ['yes', true],
    ['Yes.', true],
    ['YES', true],
    ['  yes\n', true],
    ['Yes, the student answer is correct.', true],
    ['Yes - not a problem.', true], // 'not' is not the word 'no'
    ['Sí, yes', true],
    ['no', false],
    ['No.', false],
    ['yes, no', false], // both words
    ['yes\nno', false],
    ['No problem, yes', false],
    ['yes/no', false],
    ['', false],
    ['The answer is correct', false], // no 'yes'
    ['yesterday', false], // 'yes' only inside a word
    ['eyes', false],
    ['yes_', false], // '_' is a word character: no boundary after 'yes'
    ['éyes', false], // 'é' is a word character in Python 3
    ['yes 1no', true], // '1no' is one word, so there is no word 'no'
    ['yes, nobody', true],
  ])('%j -> %s', (reply, correct) => {
    expect(yesNoVerdict(reply)).toBe(correct);
  });
});
