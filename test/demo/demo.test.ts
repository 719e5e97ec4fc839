/**
 * The built demo end to end in headless Chromium (issue 11 item 3): demo/dist (built once by test/demo/build-demo.ts)
 * served by a plain static server, the bundled stories260K, the tiny ARC tasks. The SEAL loop from a URL with
 * autorun=1 (valid self-edit cards, loss chart, prediction, result, status `done`, the engine in a Web Worker); a
 * ReST-EM round whose every self-edit wins, the policy adapter downloaded and loaded by `seal logits --adapter` in
 * Node, which must give the logits the page's engine gives; cancelling mid-TTT and running again; a pasted broken
 * task showing the CLI's wording. Screenshots of each stage go to test-artifacts/demo/ (gitignored).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Download } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateSelfEdit } from '../../src/domains/arc/self-edit.ts';
import { seal } from '../harness/cli.ts';
import { nmse } from '../harness/numerics.ts';
import { DEMO_DIST } from './build-demo.ts';
import {
  launchChromium,
  lossCharts,
  mostChartPoints,
  openDemo,
  readStatus,
  screenshot,
  selfEditTexts,
  waitForStatus,
  type DemoPage,
  type DemoParams,
} from './demo-page.ts';
import { serveStatic, type StaticServer } from './static-server.ts';

const MODEL_DIR = 'examples/models/stories260K';
/** The "done when" link. */
const DONE_WHEN: DemoParams = { model: 'stories260K', task: 'tiny0001', k: 2, steps: 3, 'answer-tokens': 8, seed: 1, autorun: 1 };
/** Longest wait for one long action (sampling K=2, TTT, augmented inference, or a ReST-EM round) on SwiftShader with 2 shared cores. */
const ACTION_MS = 1_200_000;
/** The page's engine as a comlink remote (window.sealDemo.engine; demo/src/main.ts). */
type PageEngine = {
  info(): Promise<{ inWorker: boolean }>;
  logits(prompt: string, opts: { policy: boolean }): Promise<Float32Array>;
};
const PROMPT = 'Once upon a time, there was a dog named';
/**
 * The page's logits (Chromium: WebGPU on SwiftShader) against `seal logits` (Node: Dawn on lavapipe), both f32
 * throughout. Each side is held to NMSE <= 1e-9 against the f64 reference for this model (test/browser/hub.test.ts
 * in Chromium, the Node model tests), so their difference is at most (2 sqrt(1e-9))^2 = 4e-9; summation order and
 * exp/rsqrt accuracy are what differ. A wrong adapter (missing, transposed, other scale) is orders of magnitude off:
 * the test also asserts the adapter moves the logits far more than this.
 */
const CROSS_DEVICE_NMSE = 4e-9;

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}

/** Model loaded from the URL's model= (status "model ... loaded"), no run started. */
async function openLoaded(browser: Browser, origin: string, params: DemoParams): Promise<DemoPage> {
  const demo = await openDemo(browser, origin, params);
  await waitForStatus(demo, ACTION_MS, (s) => /^model .* loaded$/.test(s.text));
  return demo;
}

/** `seal logits` of the prompt (ids as `seal tokenize` gives them, BOS as the tokenizer adds it): the last position's row. */
function cliLastLogits(...adapter: string[]): number[] {
  const tok = seal('tokenize', '--model', MODEL_DIR, '--text', PROMPT);
  expect(tok.code, tok.stderr).toBe(0);
  const ids = (JSON.parse(tok.stdout) as { ids: number[] }).ids;
  const r = seal('logits', '--model', MODEL_DIR, '--ids', ids.join(','), ...adapter);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { logits: number[][] }).logits.at(-1)!;
}

describe('the built demo in Chromium (stories260K, tiny tasks)', () => {
  let server: StaticServer;
  let browser: Browser;
  let tmp: string;

  beforeAll(async () => {
    server = await serveStatic(DEMO_DIST);
    browser = await launchChromium();
    tmp = mkdtempSync(join(tmpdir(), 'seal-demo-'));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("the issue's link with autorun=1: two valid self-edit cards, a loss chart, a prediction, a result, status done; the engine runs in a worker", async () => {
    const started = performance.now();
    const demo = await openDemo(browser, server.origin, DONE_WHEN);
    const status = await waitForStatus(demo, ACTION_MS);
    console.log(`demo test: the autorun link (K=2, 3 TTT steps, 8 answer tokens) reached "${status.text}" in ${seconds(started)} s`);
    await screenshot(demo.page, '1-autorun-done');

    const texts = await selfEditTexts(demo.page);
    expect(texts).toHaveLength(2);
    for (const text of texts) {
      // An empty card: the sample was not a usable self-edit (the card shows why).
      expect(text, 'a self-edit card without a usable self-edit').not.toBe('');
      const r = validateSelfEdit(JSON.parse(text));
      if (!r.ok) throw new Error(`self-edit card ${text}: ${r.reason}`);
      // Sampled under the schema, whose bounds are the limits: nothing was clamped or ignored.
      expect(r.adjustments, text).toEqual([]);
    }
    const charts = await lossCharts(demo.page);
    expect(charts.length).toBeGreaterThan(0);
    expect(await mostChartPoints(demo.page), JSON.stringify(charts)).toBeGreaterThanOrEqual(2);
    expect(await demo.page.getByTestId('prediction').count()).toBeGreaterThan(0);
    expect(await demo.page.getByTestId('result').textContent()).toMatch(/^(solved|not solved)$/);
    expect(status.text).toMatch(/^tiny0001: (solved|not solved) · train .* · inference .* · done$/);

    // Functions given to evaluate run in the page: they can name nothing of this module.
    const info = await demo.page.evaluate(() => (window as unknown as { sealDemo: { engine: PageEngine } }).sealDemo.engine.info());
    expect(info.inWorker).toBe(true);
    expect(demo.errors).toEqual([]);
    await demo.page.close();
  });

  it('a ReST-EM round where every self-edit wins trains the policy; the downloaded adapter gives the same logits in `seal logits --adapter`', async () => {
    const demo = await openLoaded(browser, server.origin, { model: 'stories260K', task: 'tiny0001', k: 2, steps: 3, 'answer-tokens': 8, seed: 1 });
    const { page } = demo;
    // tiny0001 is ticked (the current task); threshold -1: every valid self-edit is a winner, as the CLI's
    // --winner-threshold=-1 (stories260K solves no task, so the paper's threshold 0 would train nothing).
    await expect.poll(() => page.getByTestId('rest-em-task-tiny0001').isChecked()).toBe(true);
    await page.getByTestId('rest-em-threshold').fill('-1');
    const started = performance.now();
    await page.getByTestId('rest-em-run').click();
    const status = await waitForStatus(demo, ACTION_MS);
    console.log(`demo test: ReST-EM round (1 task, K=2) reached "${status.text}" in ${seconds(started)} s`);
    await screenshot(page, '2-rest-em-done');
    expect(await page.getByTestId('rest-em-winners').textContent()).toBe('2 winners');
    const policyChart = (await lossCharts(page)).find((c) => c.title === 'policy SFT loss');
    expect(policyChart?.points, 'the policy SFT loss chart').toBeGreaterThanOrEqual(1);

    // Export: the page downloads the PEFT files; save them as an adapter directory.
    const downloads: Download[] = [];
    page.on('download', (d) => downloads.push(d));
    await page.getByTestId('policy-export').click();
    await expect.poll(() => downloads.length, { timeout: 30_000 }).toBe(2);
    const adapterDir = join(tmp, 'policy');
    for (const d of downloads) await d.saveAs(join(adapterDir, d.suggestedFilename()));
    expect(downloads.map((d) => d.suggestedFilename()).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);

    const [withPolicy, base] = await page.evaluate(async (prompt) => {
      const engine = (window as unknown as { sealDemo: { engine: PageEngine } }).sealDemo.engine;
      return [Array.from(await engine.logits(prompt, { policy: true })), Array.from(await engine.logits(prompt, { policy: false }))];
    }, PROMPT);
    const cliWithPolicy = cliLastLogits('--adapter', adapterDir);
    const cliBase = cliLastLogits();
    const agree = nmse(withPolicy, cliWithPolicy);
    const agreeBase = nmse(base, cliBase);
    const moved = nmse(base, cliWithPolicy);
    console.log(
      `demo test: logits NMSE page vs seal logits: with the policy ${agree.toExponential(2)}, base ${agreeBase.toExponential(2)}; the policy moves them by ${moved.toExponential(2)}`,
    );
    expect(withPolicy).toHaveLength(cliWithPolicy.length);
    expect(agree).toBeLessThanOrEqual(CROSS_DEVICE_NMSE);
    expect(agreeBase).toBeLessThanOrEqual(CROSS_DEVICE_NMSE);
    expect(moved).toBeGreaterThan(100 * CROSS_DEVICE_NMSE);
    expect(demo.errors).toEqual([]);
    await page.close();
  });

  it('cancel mid-TTT stops the run and leaves the engine usable: running again reaches done', async () => {
    // Two cards written from scratch (the reference's self-edit; no sampling needed) and many steps, so the run is
    // surely still training when the status shows its first steps.
    const demo = await openLoaded(browser, server.origin, { model: 'stories260K', task: 'tiny0001', k: 2, steps: 100, 'answer-tokens': 8, seed: 1 });
    const { page } = demo;
    await page.getByTestId('write-self-edit').click();
    await page.getByTestId('write-self-edit').click();
    expect(await selfEditTexts(page)).toHaveLength(2);
    await page.getByTestId('run').click();
    // The run's status while training: "run of 2 candidates on tiny0001: candidate C step S/T loss L" (demo/src/views/run-view.ts).
    const training = await waitForStatus(demo, ACTION_MS, (s) => s.state === 'busy' && /: candidate \d+ step \d+\/\d+ /.test(s.text));
    await screenshot(page, '3-training');
    await page.getByTestId('run-cancel').click();
    const cancelled = await waitForStatus(demo, ACTION_MS, (s) => s.state === 'cancelled');
    expect(cancelled.text).toMatch(/cancelled$/);
    await screenshot(page, '3-cancelled');
    // Stopped in training: no result, and the candidate that was mid-way never drew its last step.
    const [, card, step, total] = training.text.match(/: candidate (\d+) step (\d+)\/(\d+) /)!.map(Number);
    expect(step!, training.text).toBeLessThan(total!);
    expect(await page.getByTestId('result').count()).toBe(0);
    const chart = (await lossCharts(page)).find((c) => c.title === `candidate ${card} loss`);
    expect(chart, JSON.stringify(await lossCharts(page))).toBeDefined();
    expect(chart!.points).toBeLessThan(total!);

    await page.getByTestId('setting-steps').fill('3');
    await page.getByTestId('run').click();
    const done = await waitForStatus(demo, ACTION_MS);
    expect(done.text).toMatch(/^tiny0001: (solved|not solved) · .* · done$/);
    expect(await page.getByTestId('result').textContent()).toMatch(/^(solved|not solved)$/);
    await screenshot(page, '3-run-again-done');
    expect(demo.errors).toEqual([]);
    await page.close();
  });

  it("a pasted broken task shows its error in the CLI's words", async () => {
    // Row 1 of a training input is short: the CLI's message names the grid and the problem.
    const broken = {
      train: [
        {
          input: [[1, 2], [3]],
          output: [
            [2, 1],
            [4, 3],
          ],
        },
      ],
      test: [
        {
          input: [
            [7, 8],
            [9, 1],
          ],
        },
      ],
    };
    const file = join(tmp, 'broken_challenges.json');
    writeFileSync(file, JSON.stringify({ broken }));
    const r = seal('arc', 'show', '--task', 'broken', '--data', file);
    const prefix = `seal: ${file}: task "broken" `;
    const cliLine = r.stderr.split('\n').find((l) => l.startsWith(prefix));
    expect(r.code, r.stderr).not.toBe(0);
    expect(cliLine, r.stderr).toBeDefined();
    const problem = cliLine!.slice(prefix.length);
    expect(problem).toMatch(/^train\[0\]\.input: /);

    const demo = await openDemo(browser, server.origin, { task: 'tiny0001' });
    const { page } = demo;
    await waitForStatus(demo, ACTION_MS, (s) => s.state === 'idle' && s.text === 'ready');
    await page.getByText('Paste a task').click();
    await page.getByTestId('task-json').fill(JSON.stringify(broken));
    await page.getByTestId('task-json-use').click();
    await expect.poll(() => page.getByTestId('task-error').textContent()).toContain(problem);
    expect(await page.getByTestId('task-error').textContent()).toMatch(/^pasted task: task "pasted" /);
    expect(await readStatus(page)).toEqual({ text: `the pasted task cannot be used: ${await page.getByTestId('task-error').textContent()}`, state: 'error' });
    await screenshot(page, '4-broken-task');
    expect(demo.errors).toEqual([]);
    await page.close();
  });
});
