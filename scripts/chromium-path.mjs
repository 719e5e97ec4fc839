// Where the browser tests find Chromium: CHROMIUM_PATH, else Debian's package, else Ubuntu's snap
// (scripts/install-system.sh installs whichever the system has). Used by scripts/test-browser.mjs and vitest.demo.config.ts.
import { existsSync } from 'node:fs';

/** The Chromium executable to launch; the first candidate when none exists (the launch then names it). */
export function chromiumPath() {
  return process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/snap/bin/chromium'].find((p) => existsSync(p)) ?? '/usr/bin/chromium';
}
