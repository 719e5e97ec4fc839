/** Errors the GPU layer raises. Each message says what went wrong and what to do about it. */

export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(`WebGPU device lost (${reason}): ${message}. Create a new context; buffers of the lost device are gone.`);
  }
}

export class GpuValidationError extends Error {
  override name = 'GpuValidationError';
}
