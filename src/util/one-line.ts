/** A message over several lines (a head, then one problem per line) as one line: the first three, and how many more. */
export function oneLine(message: string): string {
  const [head = '', ...rest] = message.trim().split(/\s*\n\s*/);
  const shown = rest.length > 3 ? [...rest.slice(0, 3), `… and ${rest.length - 3} more`] : rest;
  return [head, shown.join('; ')].filter(Boolean).join(' ');
}
