/** LoRA training: the exact training graph, optimizer, schedules, SFT data and the SFT loop. */
export * from './batch.ts';
export * from './lora-model.ts';
export * from './optimizer.ts';
export * from './schedule.ts';
export * from './sft-data.ts';
export * from './sft.ts';
