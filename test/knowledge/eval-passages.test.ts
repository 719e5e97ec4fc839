/**
 * The paper's 200 evaluation passages (docs/reference/seal-knowledge.md §2.1, 5.2): the shipped ids and fingerprints
 * against the real files. The fingerprints are recomputed here with node:crypto, not with the code under test.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PAPER_EVAL_PASSAGES, passageFingerprint } from '../../src/domains/knowledge/index.ts';
import { sharedPath } from '../harness/shared.ts';

interface Rec {
  title: string;
  context: string;
}
const squadVal = JSON.parse(readFileSync(sharedPath('data/squad/squad_val.json'), 'utf8')) as Rec[];
const gpt4 = JSON.parse(readFileSync(sharedPath('data/squad/gpt4_1_synthetic_val.json'), 'utf8')) as Rec[];
const sha16 = (p: Rec) => createHash('sha256').update(`${p.title}\n${p.context}`, 'utf8').digest('hex').slice(0, 16);

describe("the paper's evaluation passages", () => {
  it("are Python's random.seed(42); random.shuffle(range(2067)) first ids (printed by CPython 3)", () => {
    expect(PAPER_EVAL_PASSAGES.slice(0, 8).map(([id]) => id)).toEqual([1168, 760, 685, 1193, 1679, 1572, 1257, 522]);
    expect(PAPER_EVAL_PASSAGES.slice(-3).map(([id]) => id)).toEqual([1332, 1482, 1306]);
  });

  it('are 200 distinct passages of squad_val.json, each with its fingerprint', () => {
    expect(PAPER_EVAL_PASSAGES.length).toBe(200);
    expect(new Set(PAPER_EVAL_PASSAGES.map(([id]) => id)).size).toBe(200);
    const wrong = PAPER_EVAL_PASSAGES.filter(([id, fp]) => squadVal[id] === undefined || sha16(squadVal[id]) !== fp);
    expect(wrong).toEqual([]);
  });

  it("are the reference's GPT-4.1 evaluation file, in its order", () => {
    expect(gpt4.map(sha16)).toEqual(PAPER_EVAL_PASSAGES.map(([, fp]) => fp));
  });

  it('fingerprints tell all 2067 passages apart and agree with SHA-256', () => {
    expect(new Set(squadVal.map(sha16)).size).toBe(2067);
    expect(squadVal.slice(0, 50).map((p) => passageFingerprint(p))).toEqual(squadVal.slice(0, 50).map(sha16));
  });
});
