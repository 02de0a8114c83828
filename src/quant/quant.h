/* Tensor types as GGUF/ggml number them, and the kernels for each.
 *
 * A matrix row of weights of type T is multiplied against an activation row
 * that was first converted to T's vec_dot_type (8-bit blocks for the quantized
 * types, as llama.cpp does), so the integer part of every dot product is exact
 * and only the block scales are applied in float. */
#ifndef KESTREL_QUANT_H
#define KESTREL_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kt_type {
    KT_F32 = 0, KT_F16 = 1, KT_Q4_0 = 2, KT_Q4_1 = 3,
    KT_Q5_0 = 6, KT_Q5_1 = 7, KT_Q8_0 = 8, KT_Q8_1 = 9,
    KT_Q2_K = 10, KT_Q3_K = 11, KT_Q4_K = 12, KT_Q5_K = 13, KT_Q6_K = 14, KT_Q8_K = 15,
    KT_BF16 = 30,
    KT_TYPE_COUNT = 40 /* ids up to here are looked up; unknown ones have no traits */
};

/* n is a multiple of the type's block size in all three. */
typedef void (*kt_to_float_fn)(const void *restrict src, float *restrict dst, int64_t n);
typedef void (*kt_from_float_fn)(const float *restrict src, void *restrict dst, int64_t n);
/* *s = dot(x, y) over n elements; x is a row of the weight type, y of its vec_dot_type. */
typedef void (*kt_vec_dot_fn)(int64_t n, float *restrict s, const void *restrict x,
                              const void *restrict y);

/* Tile kernel for matrix-matrix products (src/quant/<isa>_gemm.c):
 * out[t * ldo + r] = (row r of w) . (activation row t) for r < nrows, t < n_tok.
 * Activation rows are rows of the vec_dot_type, act_stride bytes apart, each
 * completed by prep (a side table after the blocks; act_stride leaves room: see
 * matmul_act_row_bytes). Every output is computed with the same floating-point
 * operations in the same order whatever nrows, n_tok, the output's position in
 * the tile and the thread split (batch invariance): matmul uses it for n_tok = 1
 * too. rows: the row-tile height; matmul splits rows between threads in
 * multiples of it.
 * repack (may be NULL): rewrites a whole matrix (nrows rows, the same byte
 * count) into the kernel's own interleaved layout, once at load; run is then
 * called with packed = 1 on it, at row offsets that are multiples of rows,
 * and gives the same bits as on the file's layout. */
typedef void (*kt_gemm_prep_fn)(int64_t n, void *act_row);
typedef void (*kt_gemm_fn)(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows,
                           const void *restrict act, size_t act_stride, int n_tok, float *restrict out,
                           size_t ldo, int packed);
typedef void (*kt_gemm_repack_fn)(int64_t n, const void *src, size_t row_bytes, int64_t nrows, void *dst);
typedef struct {
    int rows;
    kt_gemm_prep_fn prep;
    kt_gemm_fn run;
    kt_gemm_repack_fn repack;
} kt_gemm;

typedef struct {
    const char *name;        /* as ggml prints it: "Q4_K", "F16", ... */
    int block_size;          /* elements per block */
    size_t type_size;        /* bytes per block */
    int vec_dot_type;        /* activations are converted to this type */
    kt_to_float_fn to_float;
    kt_from_float_fn from_float;  /* fast quantizer, used for activations */
    kt_from_float_fn quantize;    /* best-quality quantizer, used for weights */
    kt_vec_dot_fn vec_dot;
    const kt_gemm *gemm;     /* NULL: matmul calls vec_dot once per output */
} kt_traits;

/* Instruction-set levels, lowest first. Each level's kernels are built on the
 * level below it: a table starts as the reference and each register function
 * overwrites the entries it has a faster kernel for. */
/* In order of preference on x86 (the best level the CPU runs is chosen):
 * AVX-VNNI is AVX2 plus 256-bit VPDPBUSD (CPUs without AVX-512). */
enum kt_isa { KT_ISA_SCALAR, KT_ISA_AVX2, KT_ISA_AVXVNNI, KT_ISA_AVX512, KT_ISA_AVX512VNNI, KT_ISA_NEON, KT_ISA_COUNT };

const char *kt_isa_name(int isa);
/* Whether this CPU (and this build) can run the level. */
bool kt_isa_supported(int isa);
/* Fills table[KT_TYPE_COUNT] with the kernels of a level; false if unsupported. */
bool kt_isa_table(int isa, kt_traits *table);
/* The level in use: the best supported one, or KESTREL_ISA when set (see dispatch.c). */
int kt_active_isa(void);
/* Bytes ahead that the repacked tile kernels prefetch in a product over n_tok
 * tokens (0: none; per CPU vendor, dispatch.c). */
int kt_prefetch_bytes(int n_tok);

/* Per-ISA kernel files (src/quant/<isa>_<family>.c) register what they have. */
void kt_register_avx2_float(kt_traits *table);
void kt_register_avx2_legacy(kt_traits *table);
void kt_register_avx2_kquants(kt_traits *table);
void kt_register_avx2_gemm(kt_traits *table);
void kt_register_avx512_float(kt_traits *table);
void kt_register_avx512_legacy(kt_traits *table);
void kt_register_avx512_kquants(kt_traits *table);
void kt_register_vnni_legacy(kt_traits *table);
void kt_register_vnni_kquants(kt_traits *table);
void kt_register_vnni_gemm(kt_traits *table);
void kt_register_avxvnni_legacy(kt_traits *table);
void kt_register_neon_float(kt_traits *table);
void kt_register_neon_legacy(kt_traits *table);
void kt_register_neon_kquants(kt_traits *table);
void kt_register_neon_gemm(kt_traits *table);

/* The reference (plain C) traits of a type, or NULL if the id is unknown or the
 * type is not supported. */
const kt_traits *kt_ref_traits(int type);
/* The traits with the kernels chosen for this CPU (see dispatch.c). */
const kt_traits *kt_get_traits(int type);
const char *kt_type_name(int type);    /* "?" when unknown */
int kt_type_from_name(const char *name); /* -1 when unknown */
/* Bytes of a row of n elements; 0 when n is not a multiple of the block size. */
size_t kt_row_size(int type, int64_t n);

#endif
