// shader-f16 twin of matmul.wgsl: the same kernel with its workgroup tiles in f16 (STAGE = f16), which halves
// workgroup-memory traffic and footprint (so BK can double), while products still accumulate in f32.
// Activations are rounded to f16 on the way in: results match the f32 kernel to TOL.half, not TOL.f32.
enable f16;
#include "matmul"
