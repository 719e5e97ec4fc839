/**
 * `seal sft`: LoRA supervised fine-tuning of a model on a JSONL file, writing a PEFT adapter directory.
 * Everything that can be checked before training is checked first (flags, data, tokenization, lengths, the output
 * directory), so a bad input fails in seconds with one `seal:` line and leaves nothing behind. The output directory
 * is built beside its target (durable-write.ts's StagedDir: loss.jsonl one line per optimizer step, init/, then the
 * adapter) and put in place as a whole at the end, so config, weights and loss log always come from the same run; a
 * failed or interrupted run (Ctrl-C, SIGTERM) leaves the old --out as it was.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoraAdapter } from '../src/lora/adapter.ts';
import { LORA_TARGETS, resolveLoraConfig, type LoraTarget } from '../src/lora/config.ts';
import { readModelConfig } from '../src/inference/load-model.ts';
import { defaultLossMode, LOSS_MODES, parseSftJsonl, tokenizeSftRows, type LossMode } from '../src/train/sft-data.ts';
import { TRAINING_PRECISIONS } from '../src/train/lora-linear.ts';
import { LR_SCHEDULES, type LrSchedule } from '../src/train/schedule.ts';
import { scheduleWarnings } from '../src/train/schedule-warnings.ts';
import { resolveSftHyperparameters, type SftHyperparameters, type SftJobResult, type SftStepInfo, totalSftSteps, trainSft } from '../src/train/sft.ts';
import { checkAdapterOutputDir, writeAdapterFiles } from './adapter-files.ts';
import { CHAT_TEMPLATE_OPTION, chooseChatTemplate, readChatTemplateFlag } from './chat-template-flag.ts';
import { createNodeContext } from './device.ts';
import { removeTempSiblings, StagedDir } from './durable-write.ts';
import { numberFlag, oneOf, parseFlags, requireString, SHORT_LORA_TARGETS, UsageError } from './flags.ts';
import { isHubId } from './hub.ts';
import { sealCommandLine, watchInterrupts } from './interrupt.ts';
import { pidAlive } from './lock-file.ts';
import { checkModelFiles, checkModelWeights, loadModelDir, loadModelTokenizer, modelDirFiles, resolveModelWithProgress } from './model-dir.ts';
import { formatDuration } from './progress.ts';

export const SFT_USAGE = `Usage:
  seal sft --model DIR --data FILE.jsonl --out ADAPTER_DIR [--targets q,v,...] [--rank R] [--alpha A] [--lr LR]
           [--epochs E] [--max-steps N] [--batch-size B] [--grad-accum G] [--schedule constant|linear|cosine]
           [--warmup N] [--weight-decay W] [--grad-clip C] [--loss all|output|completion] [--seed S] [--save-init]
           [--max-length N] [--precision f32|mixed] [--force] [--gpu-adapter NAME] [--backend vulkan|metal|d3d12]
           [--disable-features f1,f2]
      LoRA fine-tuning. Data rows (one JSON object per line): {"text"}, {"messages": [{"role", "content"}, ...]}
      (rendered with the model's chat template) or {"prompt", "completion"}. Writes a PEFT adapter (adapter_config.json,
      adapter_model.safetensors) to ADAPTER_DIR and a loss log, ADAPTER_DIR/loss.jsonl, one line per step.
      --targets   projections to adapt: q,k,v,o,gate,up,down (or q_proj, ...; all); default q,v
      --rank 8, --alpha 2 x rank, --lr 1e-4, --epochs 3 (--max-steps N trains exactly N steps instead),
      --batch-size 1 example, --grad-accum 1, --schedule linear, --warmup 0 steps, --weight-decay 0,
      --grad-clip 1 (0: off), --seed 0 (adapter init and data order), --max-length: the model's context.
      --loss      all tokens; output = assistant turns of chats; completion = completions of prompt/completion
                  rows; default: output for chats, completion for prompt/completion rows, else all.
      --save-init also writes the freshly initialised adapter to ADAPTER_DIR/init/.
      --force     replace an existing adapter in ADAPTER_DIR (only once this run's adapter is saved: a failed or
                  interrupted run leaves it as it was); without it a non-empty ADAPTER_DIR is refused.
      --precision how the frozen base's matmuls run: f32 (default, exact) or mixed (16-bit operands on the
                  device's fastest kernel: tensor cores through subgroup matrices, else f16 tiles; f32 accumulation;
                  the LoRA weights, their gradients and the optimizer stay f32).`;

/** --targets "q,v" / "q_proj,down_proj" / "all" → projections. */
export function parseTargets(value: string): LoraTarget[] {
  const names = value
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UsageError(`--targets must name at least one projection (${Object.keys(SHORT_LORA_TARGETS).join(',')})`);
  const out = new Set<LoraTarget>();
  for (const name of names) {
    if (name === 'all' || name === 'all-linear') {
      for (const t of LORA_TARGETS) out.add(t);
    } else if ((LORA_TARGETS as readonly string[]).includes(name)) out.add(name as LoraTarget);
    else if (SHORT_LORA_TARGETS[name]) out.add(SHORT_LORA_TARGETS[name]);
    else throw new UsageError(`--targets: unknown target '${name}'; use ${Object.keys(SHORT_LORA_TARGETS).join(', ')} (or ${LORA_TARGETS.join(', ')}, or all)`);
  }
  return LORA_TARGETS.filter((t) => out.has(t));
}

/** The progress line: a bar, step/total, loss, lr, tokens/s, ETA. Redrawn on a TTY, a line every few seconds otherwise. */
function trainingProgress(stream: NodeJS.WriteStream = process.stderr) {
  const tty = stream.isTTY === true;
  const start = Date.now();
  let lastDraw = -Infinity;
  let width = 0;
  return {
    update(s: SftStepInfo) {
      const now = Date.now();
      const last = s.step === s.totalSteps;
      if (!last && now - lastDraw < (tty ? 100 : 5000)) return;
      lastDraw = now;
      const filled = Math.round((24 * s.step) / Math.max(1, s.totalSteps));
      const elapsed = (now - start) / 1000;
      const eta = (elapsed / s.step) * (s.totalSteps - s.step);
      const text =
        `sft [${'#'.repeat(filled)}${'.'.repeat(24 - filled)}] step ${s.step}/${s.totalSteps} epoch ${s.epoch.toFixed(2)} ` +
        `loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} ${Math.round(s.tokensPerSecond)} tok/s ETA ${formatDuration(eta)}`;
      if (tty) {
        const line = text.slice(0, Math.max(20, (stream.columns ?? 120) - 1));
        stream.write(`\r${line}${' '.repeat(Math.max(0, width - line.length))}`);
        width = line.length;
      } else {
        stream.write(`${text}\n`);
      }
    },
    finish() {
      if (tty && width > 0) stream.write('\n');
      width = 0;
    },
  };
}

/**
 * `seal sft …`; returns the exit code. Errors (a bad flag, bad data, a broken model) are reported by the CLI's one
 * handler (cli-errors.ts), --help by help.ts.
 */
export async function runSft(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    model: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    targets: { type: 'string' },
    rank: { type: 'string' },
    alpha: { type: 'string' },
    lr: { type: 'string' },
    epochs: { type: 'string' },
    'max-steps': { type: 'string' },
    'batch-size': { type: 'string' },
    'grad-accum': { type: 'string' },
    schedule: { type: 'string' },
    warmup: { type: 'string' },
    'weight-decay': { type: 'string' },
    'grad-clip': { type: 'string' },
    loss: { type: 'string' },
    seed: { type: 'string' },
    'save-init': { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    'max-length': { type: 'string' },
    ...CHAT_TEMPLATE_OPTION,
    precision: { type: 'string' },
    'gpu-adapter': { type: 'string' },
    backend: { type: 'string' },
    'disable-features': { type: 'string' },
  });
  const modelArg = requireString(values.model, '--model');
  const dataPath = requireString(values.data, '--data');
  const outArg = requireString(values.out, '--out');
  const targets = parseTargets(values.targets ?? 'q,v');
  const rank = numberFlag(values.rank, '--rank', 8, { min: 1, integer: true, max: 65536 });
  const alpha = numberFlag(values.alpha, '--alpha', 2 * rank, { min: 0, minOpen: true });
  const lr = numberFlag(values.lr, '--lr', 1e-4, { min: 0, minOpen: true, max: 10 });
  const maxSteps = values['max-steps'] === undefined ? null : numberFlag(values['max-steps'], '--max-steps', 0, { min: 1, integer: true, max: 1e9 });
  const epochs = numberFlag(values.epochs, '--epochs', 3, { min: 1, integer: true, max: 1e6 });
  const batchSize = numberFlag(values['batch-size'], '--batch-size', 1, { min: 1, integer: true, max: 1e6 });
  const gradAccum = numberFlag(values['grad-accum'], '--grad-accum', 1, { min: 1, integer: true, max: 1e6 });
  const schedule: LrSchedule = oneOf(values.schedule, '--schedule', LR_SCHEDULES) ?? 'linear';
  const warmupSteps = numberFlag(values.warmup, '--warmup', 0, { min: 0, integer: true, max: 1e9 });
  const weightDecay = numberFlag(values['weight-decay'], '--weight-decay', 0, { min: 0, max: 1e3 });
  const gradClip = numberFlag(values['grad-clip'], '--grad-clip', 1, { min: 0, max: 1e9 });
  const lossFlag = oneOf(values.loss, '--loss', LOSS_MODES);
  const precision = oneOf(values.precision, '--precision', TRAINING_PRECISIONS) ?? 'f32';
  const seed = numberFlag(values.seed, '--seed', 0, { min: 0, integer: true, max: 0xffffffff });
  const maxLengthFlag = values['max-length'] === undefined ? undefined : numberFlag(values['max-length'], '--max-length', 0, { min: 2, integer: true });
  const lora = resolveLoraConfig({ targets, rank, alpha });

  // The data, before any model work: a wrong file fails at once.
  let dataText: string;
  try {
    dataText = readFileSync(dataPath, 'utf8');
  } catch (e) {
    throw new UsageError(`--data: cannot read ${dataPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const rows = parseSftJsonl(dataText, dataPath);
  const chatTemplateFlag = readChatTemplateFlag(values['chat-template']);
  const out = await checkAdapterOutputDir(outArg);
  if (!values.force && existsSync(out) && readdirSync(out).length > 0) {
    throw new UsageError(`--out ${out} already holds an adapter: pass --force to replace it (once this run's adapter is saved), or choose another --out`);
  }

  const dir = await resolveModelWithProgress(modelArg);
  checkModelFiles(dir);
  const files = modelDirFiles(dir);
  const config = await readModelConfig(files);
  await checkModelWeights(dir, config); // a broken checkpoint fails before anything is written
  const tokenizer = await loadModelTokenizer(dir);
  const chatTemplate = (await chooseChatTemplate(files, tokenizer, chatTemplateFlag, 'none'))?.template ?? null;
  if (maxLengthFlag !== undefined && maxLengthFlag > config.maxPositionEmbeddings) {
    throw new UsageError(`--max-length ${maxLengthFlag} is over the model's max_position_embeddings (${config.maxPositionEmbeddings})`);
  }
  const lossMode: LossMode = lossFlag ?? defaultLossMode(rows);
  const examples = tokenizeSftRows(rows, {
    tokenizer,
    chatTemplate,
    lossMode,
    source: dataPath,
    maxLength: maxLengthFlag ?? config.maxPositionEmbeddings,
    maxLengthReason: maxLengthFlag !== undefined ? '--max-length' : "the model's max_position_embeddings",
  });
  const baseModel = isHubId(modelArg) && !existsSync(resolve(modelArg)) ? modelArg : dir;
  const hyper: SftHyperparameters = {
    lr,
    epochs,
    maxSteps,
    batchSize,
    gradAccum,
    schedule,
    warmupSteps,
    weightDecay,
    gradClip: gradClip === 0 ? null : gradClip,
    seed,
  };
  const plannedSteps = totalSftSteps(examples.length, resolveSftHyperparameters(hyper));
  for (const w of scheduleWarnings({ schedule, lr, warmupSteps, totalSteps: plannedSteps })) console.error(`seal: warning: ${w}`);

  const ctx = await createNodeContext({
    adapter: values['gpu-adapter'],
    backend: values.backend,
    disableFeatures: values['disable-features']?.split(',').filter(Boolean),
  });
  try {
    const model = await loadModelDir(ctx, dir);
    try {
      const adapter = LoraAdapter.create(ctx, config, lora, { seed });
      try {
        await removeTempSiblings(out, pidAlive); // what a killed run left beside --out
        const staged = await StagedDir.create(out);
        const lossLog = join(staged.path, 'loss.jsonl');
        const progress = trainingProgress();
        let step = 0;
        let saving: Promise<void> | null = null;
        const existed = existsSync(out);
        // Ctrl-C / SIGTERM: nothing is saved unless the save had begun (then it completes); the old --out stays.
        const interrupts = watchInterrupts(async (signal) => {
          progress.finish();
          if (saving !== null) {
            await saving;
            console.error(`seal: ${signal}: stopped after saving the adapter to ${out}`);
            return;
          }
          await staged.discard();
          const kept = existed ? `the adapter in ${out} is as it was` : `${out} was not created`;
          console.error(
            `seal: ${signal}: stopped at step ${step} of ${plannedSteps}; nothing was saved (${kept}); to train again, rerun: ${sealCommandLine()}`,
          );
        });
        try {
          if (values['save-init']) {
            mkdirSync(join(staged.path, 'init'));
            await writeAdapterFiles(join(staged.path, 'init'), await adapter.download(), { baseModel });
          }
          const trained = examples.reduce((n, e) => n + e.trainedTokens, 0);
          const tokens = examples.reduce((n, e) => n + e.ids.length, 0);
          console.error(
            `seal sft: ${examples.length} example${examples.length === 1 ? '' : 's'} (${tokens} tokens, ${trained} trained, loss '${lossMode}'), LoRA r=${rank} alpha=${alpha} on ${targets.join(',')}${precision === 'mixed' ? ', mixed precision' : ''}`,
          );
          const start = Date.now();
          let result: SftJobResult | undefined;
          try {
            [result] = await trainSft(ctx, config, model.weights, [{ adapter, examples, hyper }], {
              precision,
              onStep: (s) => {
                if (interrupts.signal !== null) throw new Error(`stopped by ${interrupts.signal}`); // the stop handler reports it
                step = s.step;
                appendFileSync(
                  lossLog,
                  `${JSON.stringify({
                    step: s.step,
                    epoch: s.epoch,
                    loss: s.loss,
                    lr: s.lr,
                    grad_norm: s.gradNorm,
                    tokens: s.tokens,
                    trained_tokens: s.trainedTokens,
                    tokens_per_second: s.tokensPerSecond,
                    elapsed_s: (Date.now() - start) / 1000,
                  })}\n`,
                );
                progress.update(s);
              },
            });
          } finally {
            progress.finish();
          }
          if (interrupts.signal !== null) return await interrupts.stopped;
          await writeAdapterFiles(staged.path, await adapter.download(), { baseModel });
          if (interrupts.signal !== null) return await interrupts.stopped;
          saving = staged.commit();
          await saving;
          const last = result!.losses[result!.losses.length - 1];
          console.log(
            `saved adapter to ${out} (${result!.steps} steps, ${result!.epochs.toFixed(2)} epochs, final loss ${last?.toFixed(4) ?? 'n/a'}, ${formatDuration((Date.now() - start) / 1000)})`,
          );
        } catch (e) {
          // Work stopped by an interrupt fails in its own ways: the stop handler's line says what happened.
          if (interrupts.signal !== null) return await interrupts.stopped;
          throw e;
        } finally {
          interrupts.dispose();
          await staged.discard();
        }
        return 0;
      } finally {
        adapter.dispose();
      }
    } finally {
      model.dispose();
    }
  } finally {
    ctx.dispose();
  }
}
