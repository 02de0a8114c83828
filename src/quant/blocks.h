/* Block layouts of the quantized GGUF types, byte for byte as ggml defines them
 * (ggml-common.h). A row of n weights is n / block_size consecutive blocks.
 * Element order inside a block is described with each struct. */
#ifndef KESTREL_BLOCKS_H
#define KESTREL_BLOCKS_H

#include <assert.h>
#include <stdint.h>

#include "fp16.h"

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* x[j] = (q[j] - 8) * d; qs[j] holds element j in its low nibble, j + 16 in its high. */
typedef struct { kt_half d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

/* x[j] = q[j] * d + m; nibbles as in Q4_0. */
typedef struct { kt_half d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");

/* x[j] = (q[j] - 16) * d; low 4 bits as Q4_0, bit 4 of element j is bit j of qh. */
typedef struct { kt_half d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

/* x[j] = q[j] * d + m; 5-bit q as in Q5_0. */
typedef struct { kt_half d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

/* x[j] = qs[j] * d */
typedef struct { kt_half d; int8_t qs[QK8_0]; } block_q8_0;
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* Activations for Q4_1/Q5_1: as Q8_0 plus s = d * sum(qs), which meets the weights' m. */
typedef struct { kt_half d, s; int8_t qs[QK8_1]; } block_q8_1;
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");

/* 16 sub-blocks of 16: x = d * (scales[i] & 15) * q - dmin * (scales[i] >> 4), q 2-bit. */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; kt_half d, dmin; } block_q2_K;
static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");

/* 16 sub-blocks of 16, 6-bit signed scales packed in 12 bytes; q 3-bit, its high bit in hmask. */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; kt_half d; } block_q3_K;
static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");

/* 8 sub-blocks of 32 with 6-bit scale and min each (packed in 12 bytes): x = d*sc*q - dmin*m. */
typedef struct { kt_half d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

/* As Q4_K with a fifth bit per element in qh. */
typedef struct { kt_half d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* 16 sub-blocks of 16 with int8 scales: x = d * scales[i] * (q - 32), q 6-bit (ql low 4, qh high 2). */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; kt_half d; } block_q6_K;
static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* Activations for the K types: float scale, and the sums of each 16 values. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;
static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

#endif
