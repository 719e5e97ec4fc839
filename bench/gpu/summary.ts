/**
 * The summary of one measure.sh run (bench/gpu/measure.sh), built from its stage records and the JSON each stage
 * wrote (the benches' own result schemas, the doctor report, the PEFT peer's report): per stage its status, and the
 * figures the steering targets are about as fractions of the device's peak and of the bandwidth roofline, and our
 * SFT tokens/s over PEFT's on the same GPU. Pure: reading and writing files is report-main.ts's.
 */
import type { DoctorReport } from '../../runtime-node/doctor.ts';
import type { ArcBenchResult } from '../arc.ts';
import type { CensusCase } from '../census.ts';
import type { GenerateResult } from '../generate.ts';
import type { KernelResult } from '../kernels.ts';
import { mainMatmulKernel, type SftResult } from '../sft.ts';

export const MEASURE_STAGES = ['doctor', 'census', 'kernels', 'generate', 'sft', 'sft-peft', 'arc', 'knowledge'] as const;
export type MeasureStage = (typeof MEASURE_STAGES)[number];

export type StageStatus = 'pending' | 'ok' | 'failed' | 'timed-out' | 'skipped';

export interface StageRecord {
  stage: MeasureStage;
  status: StageStatus;
  /** Wall-clock seconds the stage ran, and the cap it ran under (null: it did not run). */
  seconds: number | null;
  cap: number | null;
  /** Why it failed, timed out or was skipped. */
  reason: string | null;
  /** The JSON files it left, relative to the stages folder. */
  files: string[];
}

/** One stage's JSON documents as read back (a file that does not parse is named in `unreadable`). */
export interface StageOutputs {
  docs: { file: string; doc: Record<string, unknown> }[];
  unreadable: string[];
}

/** The PEFT peer's report (bench/peers/peft_sft.py), the fields the ratio needs. */
interface PeftReport {
  device?: string;
  results: { model: string; adapters: number; tokensPerSecond: number; msPerStep: number }[];
}

export interface MeasureSummary {
  schema: 'seal-measure-summary/1';
  commit: string;
  device: string;
  driver: string;
  preset: string;
  date: string;
  stages: StageRecord[];
  doctor: { selfTestOk: boolean; features: Record<string, boolean>; subgroupMatrixConfigs: number; kernelPaths: unknown } | null;
  census: {
    model: string;
    case: string;
    dispatches: number;
    submits: number;
    hostWaits: number;
    created: number;
    recordMs: number;
    weightMBPerToken: number | null;
  }[];
  kernels: { kernel: string; case: string; variant: string | null; tflops: number | null; fractionOfPeak: number | null; skipped: string | null }[];
  generate: {
    model: string;
    layers: number;
    prefill: { tokens: number; tokensPerSecond: number }[];
    decode: { batch: number; tokensPerSecond: number; fractionOfRoofline: number | null }[];
  }[];
  sft: {
    model: string;
    adapters: number;
    mode: string;
    precision: string;
    matmulPath: string;
    tokensPerSecond: number;
    tflops: number;
    /** Over the peak of the path the step's matmuls took: tensor cores for subgroup-matrix, the FP32 units otherwise. */
    fractionOfPeak: number | null;
    peftTokensPerSecond: number | null;
    ratioToPeft: number | null;
  }[];
  arc: { k: number; precision: string; tttSteps: number; secondsPerCandidate: number; trainingShare: number; trainTokensPerSecond: number }[];
  /** Files a stage left that are not JSON, or results the summary could not read, by stage. */
  unreadable: string[];
}

const results = <T>(doc: Record<string, unknown>): T[] => (Array.isArray(doc.results) ? (doc.results as T[]) : []);

/** The summary of a run: `stages` as recorded, `outputs` each stage's JSON documents. */
export function summarize(
  run: { commit: string; device: string; driver: string; preset: string },
  stages: StageRecord[],
  outputs: Partial<Record<MeasureStage, StageOutputs>>,
): MeasureSummary {
  const docs = (stage: MeasureStage) => outputs[stage]?.docs ?? [];
  const doctorDoc = docs('doctor')[0]?.doc as DoctorReport | undefined;
  const peft = docs('sft-peft').find((d) => d.file.endsWith('sft-peft.json'))?.doc as PeftReport | undefined;
  const peftBy = new Map((peft?.results ?? []).map((r) => [`${r.model}/${r.adapters}`, r]));
  return {
    schema: 'seal-measure-summary/1',
    ...run,
    date: new Date().toISOString(),
    stages,
    doctor: doctorDoc?.selfTest
      ? {
          selfTestOk: doctorDoc.selfTest.ok,
          features: doctorDoc.features as unknown as Record<string, boolean>,
          subgroupMatrixConfigs: doctorDoc.subgroupMatrixConfigs?.length ?? 0,
          kernelPaths: doctorDoc.kernelPaths,
        }
      : null,
    census: docs('census').flatMap(({ doc }) =>
      (Array.isArray(doc.cases) ? (doc.cases as CensusCase[]) : []).map((c) => ({
        model: c.model,
        case: c.name,
        dispatches: c.dispatches,
        submits: c.submits,
        hostWaits: c.hostWaits,
        created: c.bindGroupsCreated + c.pipelinesCreated + c.buffersCreated,
        recordMs: c.recordMs,
        weightMBPerToken: c.weightBytesPerToken === undefined ? null : c.weightBytesPerToken / 1e6,
      })),
    ),
    kernels: docs('kernels').flatMap(({ doc }) =>
      results<KernelResult>(doc).map((r) => ({
        kernel: r.kernel,
        case: r.case,
        variant: r.variant ?? null,
        tflops: r.tflops ?? null,
        fractionOfPeak: r.fractionOfPeak ?? null,
        skipped: r.skipped ?? null,
      })),
    ),
    generate: docs('generate').flatMap(({ doc }) =>
      results<GenerateResult>(doc).map((r) => ({
        model: r.model,
        layers: r.layers,
        prefill: r.prefill.map((p) => ({ tokens: p.tokens, tokensPerSecond: p.tokensPerSecond })),
        decode: r.decode.map((d) => ({ batch: d.batch, tokensPerSecond: d.tokensPerSecond, fractionOfRoofline: d.fractionOfRoofline })),
      })),
    ),
    sft: docs('sft').flatMap(({ doc }) =>
      results<SftResult>(doc).map((r) => {
        const path = mainMatmulKernel(r.matmuls);
        const p = peftBy.get(`${r.model}/${r.adapters}`);
        return {
          model: r.model,
          adapters: r.adapters,
          mode: r.mode,
          precision: r.precision,
          matmulPath: path,
          tokensPerSecond: r.tokensPerSecond,
          tflops: r.tflops,
          fractionOfPeak: path === 'subgroup-matrix' ? r.fractionOfTensorPeak : r.fractionOfFp32Peak,
          peftTokensPerSecond: p?.tokensPerSecond ?? null,
          ratioToPeft: p ? r.tokensPerSecond / p.tokensPerSecond : null,
        };
      }),
    ),
    arc: docs('arc').flatMap(({ doc }) => {
      const r = doc.results as ArcBenchResult | undefined;
      return (r?.cases ?? []).map((c) => ({
        k: c.k,
        precision: r!.precision,
        tttSteps: r!.steps,
        secondsPerCandidate: c.secondsPerCandidate.total,
        trainingShare: c.seconds.training / c.seconds.total,
        trainTokensPerSecond: c.trainTokensPerSecond,
      }));
    }),
    unreadable: MEASURE_STAGES.flatMap((s) => (outputs[s]?.unreadable ?? []).map((f) => `${s}: ${f}`)),
  };
}

const pct = (x: number | null) => (x === null ? '-' : `${(100 * x).toFixed(1)} %`);
const num = (x: number | null, digits = 1) => (x === null ? '-' : x.toFixed(digits));

function table(head: string[], rows: (string | number)[][]): string[] {
  if (!rows.length) return ['(none)'];
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

/** The summary as Markdown: the stage table, then one table per measured suite. */
export function summaryMarkdown(s: MeasureSummary): string {
  const lines = [
    `# GPU measurement: ${s.device}`,
    '',
    `Driver ${s.driver}; commit ${s.commit}; preset ${s.preset}; ${s.date}.`,
    '',
    '## Stages',
    '',
    ...table(
      ['stage', 'status', 'seconds / cap', 'reason'],
      s.stages.map((r) => [r.stage, r.status, r.seconds === null ? '-' : `${r.seconds} / ${r.cap}`, (r.reason ?? '').replace(/\|/g, '/')]),
    ),
  ];
  if (s.doctor) {
    const f = Object.entries(s.doctor.features)
      .map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`)
      .join(', ');
    lines.push('', '## Doctor', '', `Self-test ${s.doctor.selfTestOk ? 'passed' : 'FAILED'}; ${f}; ${s.doctor.subgroupMatrixConfigs} subgroup-matrix configs.`);
  }
  lines.push(
    '',
    '## Census (one steady-state step)',
    '',
    ...table(
      ['model', 'case', 'dispatches', 'submits', 'host waits', 'created', 'record ms', 'weight MB/token'],
      s.census.map((c) => [c.model, c.case, c.dispatches, c.submits, c.hostWaits, c.created, num(c.recordMs, 2), num(c.weightMBPerToken)]),
    ),
    '',
    '## Kernels (fraction of the FP32 peak; tensor peak for subgroup-matrix)',
    '',
    ...table(
      ['kernel', 'case', 'variant', 'TFLOP/s', 'of peak'],
      s.kernels.map((k) => [k.kernel, k.case, k.variant ?? '-', k.skipped ? `skipped: ${k.skipped}` : num(k.tflops, 3), pct(k.fractionOfPeak)]),
    ),
    '',
    '## Generate (decode as a fraction of the bandwidth roofline)',
    '',
    ...table(
      ['model', 'layers', 'what', 'tok/s', 'of roofline'],
      s.generate.flatMap((g) => [
        ...g.prefill.map((p) => [g.model, g.layers, `prefill ${p.tokens}`, num(p.tokensPerSecond), '-']),
        ...g.decode.map((d) => [g.model, g.layers, `decode batch ${d.batch}`, num(d.tokensPerSecond), pct(d.fractionOfRoofline)]),
      ]),
    ),
    '',
    '## LoRA SFT (ours against PyTorch + PEFT on the same GPU)',
    '',
    ...table(
      ['model', 'K', 'mode', 'precision', 'matmuls', 'tok/s', 'TFLOP/s', 'of peak', 'PEFT tok/s', 'ours / PEFT'],
      s.sft.map((r) => [
        r.model,
        r.adapters,
        r.mode,
        r.precision,
        r.matmulPath,
        num(r.tokensPerSecond),
        num(r.tflops, 3),
        pct(r.fractionOfPeak),
        num(r.peftTokensPerSecond),
        r.ratioToPeft === null ? '-' : `${r.ratioToPeft.toFixed(2)}x`,
      ]),
    ),
    '',
    '## ARC candidate',
    '',
    ...table(
      ['K', 'precision', 'TTT steps', 's per candidate', 'training share', 'train tok/s'],
      s.arc.map((a) => [a.k, a.precision, a.tttSteps, num(a.secondsPerCandidate, 2), pct(a.trainingShare), num(a.trainTokensPerSecond)]),
    ),
  );
  if (s.unreadable.length) lines.push('', `Unreadable: ${s.unreadable.join('; ')}`);
  return `${lines.join('\n')}\n`;
}
