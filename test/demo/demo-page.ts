/**
 * Driving the built demo in headless Chromium (Playwright): launching the system Chromium with WebGPU, opening the
 * demo with URL parameters, waiting on its `status`, reading the elements the issue fixes by data-testid, and saving a
 * screenshot per stage under test-artifacts/demo/ (gitignored). Node-only.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ARTIFACTS = join(ROOT, 'test-artifacts/demo');

/** Debian's Chromium with WebGPU on (SwiftShader where there is no GPU), as the kernel suite runs it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** The URL parameters the issue fixes (model, task, k, steps, answer-tokens, seed, autorun). */
export type DemoParams = Partial<Record<'model' | 'task' | 'k' | 'steps' | 'answer-tokens' | 'seed' | 'autorun', string | number>>;

/** An open demo page, with what it logged (shown when a wait fails). */
export interface DemoPage {
  page: Page;
  log: string[];
  /** Uncaught errors of the page (a demo that throws fails the test even if its status still reaches `done`). */
  errors: string[];
}

export async function openDemo(browser: Browser, origin: string, params: DemoParams): Promise<DemoPage> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const log: string[] = [];
  const errors: string[] = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => errors.push(e.stack ?? e.message));
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  await page.goto(`${origin}/?${query}`);
  return { page, log, errors };
}

/** The status line: its text, and its state as a word (idle | busy | done | cancelled | error: demo/src/status.ts). */
export interface Status {
  text: string;
  state: string;
}

export async function readStatus(page: Page): Promise<Status> {
  const status = page.getByTestId('status');
  return { text: ((await status.textContent()) ?? '').trim(), state: (await status.getAttribute('data-state')) ?? '' };
}

/** A run finished: the status text ends in `done` (the contract for tests and scripts). */
export const isDone = (s: Status): boolean => s.text.endsWith('done');

/**
 * Waits until the status satisfies `until`. Fails early when the page throws or the status turns to an error that
 * `until` does not accept, and on timeout says what the status and the console last said.
 */
export async function waitForStatus(demo: DemoPage, timeoutMs: number, until: (s: Status) => boolean = isDone): Promise<Status> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await readStatus(demo.page);
    if (until(status)) return status;
    if (demo.errors.length > 0) throw new Error(`the page threw (status "${status.text}"):\n${demo.errors.join('\n')}`);
    if (status.state === 'error') throw new Error(`the demo reports an error: ${status.text}`);
    if (Date.now() > deadline) {
      throw new Error(
        `status still "${status.text}" (${status.state}) after ${timeoutMs / 1000} s; the console's last lines:\n${demo.log.slice(-20).join('\n')}`,
      );
    }
    await demo.page.waitForTimeout(200);
  }
}

/** The text of each self-edit card's `self-edit-json`, in card order. */
export function selfEditTexts(page: Page): Promise<string[]> {
  return page
    .locator('[data-testid=self-edit] [data-testid=self-edit-json]')
    .evaluateAll((els) => els.map((e) => (e instanceof HTMLInputElement || e instanceof HTMLTextAreaElement ? e.value : (e.textContent ?? ''))));
}

/** A loss chart as drawn: its title and how many points it has. */
export interface ChartPoints {
  title: string;
  points: number;
}

/**
 * Each `loss-chart` SVG in page order, with the vertices (M/L commands) of its series paths as src/seal/svg-plots.ts
 * draws them (axes and grid lines are <line> elements, so they do not count) and its title (the SVG's aria-label).
 */
export function lossCharts(page: Page): Promise<ChartPoints[]> {
  return page.getByTestId('loss-chart').evaluateAll((charts) =>
    charts.map((c) => ({
      title: c.getAttribute('aria-label') ?? '',
      points: Array.from(c.querySelectorAll('path')).reduce((n, p) => n + ((p.getAttribute('d') ?? '').match(/[ML]/g)?.length ?? 0), 0),
    })),
  );
}

/** The most points any loss chart on the page has drawn (0 without one). */
export async function mostChartPoints(page: Page): Promise<number> {
  return Math.max(0, ...(await lossCharts(page)).map((c) => c.points));
}

/** Saves a full-page screenshot as test-artifacts/demo/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
