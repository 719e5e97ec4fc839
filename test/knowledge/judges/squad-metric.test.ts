/**
 * The official SQuAD v1.1 metric on cases worked by hand from its definition (evaluate-v1.1.py):
 *   normalize = white_space_fix(remove_articles(remove_punc(lower(s))))
 *   F1 = 2PR/(P+R) over the multiset of common normalized tokens (0 when none is common); EM = equal normal forms;
 *   several golds: the max of each.
 * The arithmetic is in the comments; the code is not consulted for any expected value.
 */
import { describe, expect, it } from 'vitest';
import { exactMatch, normalizeAnswer, squadScore, tokenF1 } from '../../../src/domains/knowledge/judges/squad-metric.ts';
import { SquadJudge, squadVerdict } from '../../../src/domains/knowledge/judges/squad-judge.ts';

describe('normalizeAnswer (SQuAD normalize_answer)', () => {
  it('lower-cases, drops ASCII punctuation, removes the articles a/an/the as words, collapses whitespace', () => {
    // 'The  Denver Broncos!' -> lower 'the  denver broncos!' -> no '!' -> 'the' becomes ' ' -> split/join
    expect(normalizeAnswer('The  Denver Broncos!')).toBe('denver broncos');
    // 'An apple a day' -> 'an apple a day' -> 'an' and 'a' are removed; the 'a' inside 'day' is not a word
    expect(normalizeAnswer('An apple a day')).toBe('apple day');
    // 'the' inside 'Theater' is not a word either
    expect(normalizeAnswer('Theater')).toBe('theater');
    // punctuation inside words goes too, with nothing in its place: saint-denis's -> saintdeniss
    expect(normalizeAnswer("Saint-Denis's")).toBe('saintdeniss');
    // '1,000' -> '1000'; '$5.50' -> '550'
    expect(normalizeAnswer('1,000')).toBe('1000');
    expect(normalizeAnswer('$5.50')).toBe('550');
    // every one of the 32 characters of string.punctuation is dropped
    expect(normalizeAnswer('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~x')).toBe('x');
  });

  it('keeps non-ASCII punctuation (string.punctuation is ASCII only)', () => {
    // curly quotes and the em dash are not in string.punctuation
    expect(normalizeAnswer('“Broncos” — yes')).toBe('“broncos” — yes');
  });

  it("uses Python 3's Unicode word boundaries for the articles", () => {
    // 'é' and '1' are word characters in Python 3: no boundary before 't', so 'the' is not a word here
    expect(normalizeAnswer('éthe')).toBe('éthe');
    expect(normalizeAnswer('1the')).toBe('1the');
    // a space and a hyphen (removed first: 'la-the' -> 'lathe') decide the same way
    expect(normalizeAnswer('la the')).toBe('la');
    expect(normalizeAnswer('la-the')).toBe('lathe');
  });

  it("splits at Python's str.split() whitespace", () => {
    // U+00A0 and U+2003 are whitespace to str.split; U+FEFF is not (it stays inside the token)
    expect(normalizeAnswer('x\u00a0y\u2003z')).toBe('x y z');
    expect(normalizeAnswer('x\ufeffy')).toBe('x\ufeffy');
    // U+001F is whitespace to Python (not to JavaScript's \s)
    expect(normalizeAnswer('x\x1fy')).toBe('x y');
  });
});

describe('exactMatch and tokenF1 (SQuAD exact_match_score and f1_score)', () => {
  it('identical answers: EM 1, F1 1', () => {
    expect(exactMatch('Denver Broncos', 'the denver broncos.')).toBe(1);
    expect(tokenF1('Denver Broncos', 'Denver Broncos')).toBe(1);
  });

  it('a partial answer', () => {
    // pred [broncos], gold [denver, broncos]: common 1, P = 1/1, R = 1/2, F1 = 2·1·0.5/1.5 = 2/3
    expect(exactMatch('the Broncos', 'Denver Broncos')).toBe(0);
    expect(tokenF1('the Broncos', 'Denver Broncos')).toBeCloseTo(2 / 3, 15);
  });

  it('a long answer that contains the gold', () => {
    // pred 'it was denver broncos who won game' (7 tokens), gold 2 tokens, common 2:
    // P = 2/7, R = 1, F1 = 2·(2/7)/(2/7 + 1) = (4/7)/(9/7) = 4/9
    expect(tokenF1('It was the Denver Broncos who won the game', 'Denver Broncos')).toBeCloseTo(4 / 9, 15);
  });

  it('counts common tokens as a multiset intersection', () => {
    // pred 'the the cat cat cat' -> [cat, cat, cat]; gold [cat, dog, cat]; common = min(3, 2) cats = 2
    // P = 2/3, R = 2/3, F1 = 2/3
    expect(tokenF1('the the cat cat cat', 'cat dog cat')).toBeCloseTo(2 / 3, 15);
  });

  it('nothing in common: F1 0', () => {
    expect(tokenF1('Paris', 'London')).toBe(0);
  });

  it('F1 of exactly 0.5', () => {
    // pred [red, blue, green], gold [red]: P = 1/3, R = 1, F1 = (2/3)/(4/3) = 1/2 (exact in binary floating point too)
    expect(tokenF1('red blue green', 'red')).toBe(0.5);
  });

  it('answers that normalize to nothing: EM 1 but F1 0 (num_same = 0 returns 0)', () => {
    expect(exactMatch('', 'The')).toBe(1);
    expect(tokenF1('', 'The')).toBe(0);
  });
});

describe('squadScore: the maximum over several gold answers', () => {
  it('takes EM and F1 each at its best gold', () => {
    // vs 'Broncos': pred [denver, broncos], gold [broncos]: P = 1/2, R = 1, F1 = 2/3
    // vs 'the Denver Broncos team' -> [denver, broncos, team]: common 2, P = 1, R = 2/3, F1 = (4/3)/(5/3) = 4/5
    const s = squadScore('Denver Broncos', ['Broncos', 'the Denver Broncos team']);
    expect(s.em).toBe(0);
    expect(s.f1).toBeCloseTo(4 / 5, 15);
    // 'broncos' equals the normal form of 'The Broncos.'
    expect(squadScore('broncos', ['Denver Broncos', 'The Broncos.'])).toEqual({ em: 1, f1: 1 });
  });
});

describe('the squad judge and its rule', () => {
  const item = (prediction: string, gold: string | string[]) => ({ question: 'q', gold, prediction });

  it('default: exact match, or F1 >= 0.5', async () => {
    const judge = new SquadJudge();
    expect(judge.name).toBe('squad');
    const verdicts = await judge.grade([
      item('the Broncos', 'Denver Broncos'), // F1 2/3
      item('It was the Denver Broncos who won the game', 'Denver Broncos'), // F1 4/9
      item('red blue green', 'red'), // F1 exactly 1/2
      item('', 'The'), // EM 1, F1 0
      item('Paris', ['London', 'paris!']), // EM 1 against the second gold
    ]);
    expect(verdicts.map((v) => v.correct)).toEqual([true, false, true, true, true]);
    expect(verdicts[1]!.f1).toBeCloseTo(4 / 9, 15);
    expect(verdicts[4]).toEqual({ correct: true, em: 1, f1: 1 });
  });

  it('squad:em counts exact matches only; squad:f1=T moves the threshold', () => {
    const partial = item('the Broncos', 'Denver Broncos'); // F1 2/3
    const long = item('It was the Denver Broncos who won the game', 'Denver Broncos'); // F1 4/9 = 0.444
    expect(squadVerdict(partial, { f1Threshold: null }).correct).toBe(false);
    expect(squadVerdict(long, { f1Threshold: 0.4 }).correct).toBe(true);
    expect(squadVerdict(long, { f1Threshold: 0.45 }).correct).toBe(false);
    expect(squadVerdict(partial, { f1Threshold: 0.7 }).correct).toBe(false);
    expect(new SquadJudge({ f1Threshold: null }).name).toBe('squad:em');
    expect(new SquadJudge({ f1Threshold: 0.8 }).name).toBe('squad:f1=0.8');
    expect(() => new SquadJudge({ f1Threshold: 1.5 })).toThrow(/\[0, 1\]/);
  });
});
