// Shared helpers (inlined with #include "lib_dtype"): 16-bit values stored two per u32, low half first.
// bf16 -> f32 is exact with a shift; f16 uses unpack2x16float, which needs no shader-f16.

fn bf16_lo(word: u32) -> f32 { return bitcast<f32>(word << 16u); }
fn bf16_hi(word: u32) -> f32 { return bitcast<f32>(word & 0xffff0000u); }
fn unpack_bf16(word: u32) -> vec2<f32> { return vec2<f32>(bf16_lo(word), bf16_hi(word)); }

// Element i of a packed 16-bit array given the u32 word that holds it.
fn half_at_bf16(word: u32, i: u32) -> f32 { return select(bf16_lo(word), bf16_hi(word), (i & 1u) == 1u); }
fn half_at_f16(word: u32, i: u32) -> f32 { return unpack2x16float(word)[i & 1u]; }
