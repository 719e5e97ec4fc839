/** The ARC palette (the colours of the ARC-AGI viewer), cell value 0..9 -> CSS colour. The only copy in the demo. */
export const ARC_COLORS: readonly string[] = [
  '#000000', // 0 black
  '#0074d9', // 1 blue
  '#ff4136', // 2 red
  '#2ecc40', // 3 green
  '#ffdc00', // 4 yellow
  '#aaaaaa', // 5 grey
  '#f012be', // 6 magenta
  '#ff851b', // 7 orange
  '#7fdbff', // 8 light blue
  '#870c25', // 9 maroon
];

export function arcColor(value: number): string {
  return ARC_COLORS[value] ?? '#ffffff';
}
