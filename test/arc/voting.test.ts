import { describe, expect, it } from 'vitest';
import { IDENTITY, majorityGrid, topThree, vote, type Grid, type VoteInput } from '../../src/domains/arc/index.ts';

const A: Grid = [[1]];
const B: Grid = [[2]];
const C: Grid = [[3]];
const preds = (inverter: string, ...grids: Grid[]): VoteInput[] => grids.map((grid) => ({ grid, inverter }));

describe('voting into two attempts (the reference rule)', () => {
  it('a clear majority wins, the runner-up is the second attempt', () => {
    expect(vote([...preds(IDENTITY, A, A, A, B), ...preds('Transpose()', A)]).attempts).toEqual([A, B]);
  });

  it('fills missing places with the row-wise, then column-wise majority (repeats included)', () => {
    expect(topThree([A])).toEqual([A, A, A]);
    expect(topThree([A, A, B])).toEqual([A, B, A]);
    expect(topThree([B, A, C, C])).toEqual([C, B, A]);
    expect(topThree([])).toBeNull();
  });

  it('ties between equally frequent grids go to the one seen first', () => {
    expect(topThree([B, A, A, B, C])).toEqual([B, A, C]);
  });

  it('a tie between the second and third candidate goes to the third unless the second is more frequent among identity predictions', () => {
    // identity [A, B, C]: every category and the pool tie, so C1 = A, C2 = B, C3 = C; B and C tie among identity too.
    expect(vote(preds(IDENTITY, A, B, C)).attempts).toEqual([A, C]);
    // identity A x3, B x2, C; Flip(0) C x3. Pool: C 5, A 2, B 2: C2 = A and C3 = B tie; A is more frequent in identity.
    expect(vote([...preds(IDENTITY, A, A, A, B, B, C), ...preds('Flip(0)', C, C, C)]).attempts).toEqual([C, A]);
    // The same with B more frequent in identity: B becomes the second attempt.
    expect(vote([...preds(IDENTITY, B, B, B, A, A, C), ...preds('Flip(0)', C, C, C)]).attempts).toEqual([C, B]);
    // Without identity predictions the second candidate stays.
    expect(vote([...preds('Transpose()', A, B, C)]).attempts).toEqual([A, B]);
  });

  it('a transformed category votes three times for its only grid', () => {
    const identity = preds(IDENTITY, A, A, B, B, C);
    expect(vote(identity).attempts).toEqual([A, B]);
    expect(vote([...identity, ...preds('Transpose()', B)]).attempts).toEqual([B, A]);
  });

  it('only the reference categories vote; others ("Rotate(90)") count through "all"', () => {
    expect(vote([...preds(IDENTITY, A), ...preds('Rotate(90)', B, B)]).attempts).toEqual([A, B]);
    expect(vote([...preds(IDENTITY, A), ...preds('Rotate(270)', B, B)]).attempts).toEqual([B, A]);
  });

  it('majority grids combine the most common row of each index among outputs of the modal shape', () => {
    const outputs: Grid[] = [
      [
        [1, 2],
        [3, 3],
      ],
      [
        [1, 2],
        [4, 4],
      ],
      [
        [7, 7],
        [6, 6],
      ],
      [
        [8, 8],
        [6, 6],
      ],
      [
        [1, 2],
        [6, 6],
        [9, 9],
      ],
    ];
    expect(majorityGrid(outputs, false)).toEqual([
      [1, 2],
      [6, 6],
    ]);
    // Column-wise: transposed, the modal shape is 2x2 and the columns are voted as rows.
    expect(
      majorityGrid(
        [
          [
            [1, 5],
            [2, 5],
          ],
          [
            [1, 6],
            [2, 6],
          ],
          [
            [0, 6],
            [0, 6],
          ],
        ],
        true,
      ),
    ).toEqual([
      [1, 6],
      [2, 6],
    ]);
  });

  it('no prediction gives the flagged [[0]] placeholders', () => {
    expect(vote([])).toEqual({
      attempts: [[[0]], [[0]]],
      fallback: true,
      reason: 'no prediction to vote on (no query was answered with a readable grid)',
      candidates: [],
    });
  });
});
