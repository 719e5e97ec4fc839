/** Published peak numbers for GPUs we report fractions of (dense, no sparsity). Unknown devices get no fraction. */
export interface DevicePeak {
  name: string;
  /** FP32 on the CUDA cores / shader ALUs: the ceiling of a matmul that does not use tensor cores. */
  fp32Tflops: number;
  /** FP16/BF16 tensor-core (matrix unit) peak, dense. */
  tensorTflops: number;
  /** Memory bandwidth in GB/s. */
  bandwidthGBs: number;
}

const PEAKS: [RegExp, DevicePeak][] = [
  [/H200/i, { name: 'NVIDIA H200', fp32Tflops: 67, tensorTflops: 989, bandwidthGBs: 4800 }],
  [/H100.*PCIe/i, { name: 'NVIDIA H100 PCIe', fp32Tflops: 51, tensorTflops: 756, bandwidthGBs: 2000 }],
  [/H100/i, { name: 'NVIDIA H100 SXM', fp32Tflops: 67, tensorTflops: 989, bandwidthGBs: 3350 }],
  [/A100/i, { name: 'NVIDIA A100', fp32Tflops: 19.5, tensorTflops: 312, bandwidthGBs: 2039 }],
];

export function devicePeak(description: string): DevicePeak | null {
  for (const [re, peak] of PEAKS) if (re.test(description)) return peak;
  return null;
}
