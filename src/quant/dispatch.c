/* Chooses the kernels for this CPU once, at first use.
 *
 * x86: cpuid + xgetbv (the OS must save the wider registers, not just the CPU
 * have them). aarch64: NEON is baseline; dotprod/i8mm come from hwcaps.
 * KESTREL_ISA=scalar|avx2|avxvnni|avx512|avx512vnni|neon forces a level, for tests and
 * comparisons; a level this CPU cannot run falls back to the best it can. */
#include "quant.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static const char *const isa_names[KT_ISA_COUNT] = { "scalar", "avx2", "avxvnni", "avx512", "avx512vnni", "neon" };

const char *kt_isa_name(int isa)
{
    return isa >= 0 && isa < KT_ISA_COUNT ? isa_names[isa] : "?";
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static bool os_saves(unsigned mask)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (eax & mask) == mask;
}

static bool cpu_has(int isa)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    const bool osxsave = c & bit_OSXSAVE, fma = c & bit_FMA, f16c = c & bit_F16C;
    if (!osxsave || !fma || !f16c || !os_saves(0x6)) /* XMM and YMM state */
        return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    const bool avx2 = b & bit_AVX2;
    const bool avx512 = (b & bit_AVX512F) && (b & bit_AVX512BW) && (b & bit_AVX512VL) && (b & bit_AVX512DQ) &&
                        os_saves(0xe6); /* opmask and ZMM state */
    const bool vnni = c & bit_AVX512VNNI;
    /* AVX-VNNI: leaf 7 subleaf 1, EAX bit 4 */
    const bool avx_vnni = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
    switch (isa) {
    case KT_ISA_AVX2: return avx2;
    case KT_ISA_AVXVNNI: return avx2 && avx_vnni;
    case KT_ISA_AVX512: return avx2 && avx512;
    case KT_ISA_AVX512VNNI: return avx2 && avx512 && vnni;
    default: return false;
    }
}
#endif

bool kt_isa_supported(int isa)
{
    if (isa == KT_ISA_SCALAR)
        return true;
#if defined(__x86_64__) || defined(__i386__)
    return isa != KT_ISA_NEON && cpu_has(isa);
#elif defined(__aarch64__)
    return isa == KT_ISA_NEON;
#else
    return false;
#endif
}

bool kt_isa_table(int isa, kt_traits *table)
{
    if (!kt_isa_supported(isa))
        return false;
    for (int t = 0; t < KT_TYPE_COUNT; t++) {
        const kt_traits *ref = kt_ref_traits(t);
        if (ref)
            table[t] = *ref;
        else
            memset(&table[t], 0, sizeof table[t]);
    }
#if defined(__x86_64__) || defined(__i386__)
    if (isa >= KT_ISA_AVX2 && isa <= KT_ISA_AVX512VNNI) {
        kt_register_avx2_float(table);
        kt_register_avx2_legacy(table);
        kt_register_avx2_kquants(table);
        kt_register_avx2_gemm(table);
    }
    if (isa == KT_ISA_AVXVNNI)
        kt_register_avxvnni_legacy(table);
    if (isa >= KT_ISA_AVX512 && isa <= KT_ISA_AVX512VNNI) {
        kt_register_avx512_float(table);
        kt_register_avx512_legacy(table);
        kt_register_avx512_kquants(table);
    }
    if (isa == KT_ISA_AVX512VNNI) {
        kt_register_vnni_legacy(table);
        kt_register_vnni_kquants(table);
        kt_register_vnni_gemm(table);
    }
#elif defined(__aarch64__)
    if (isa == KT_ISA_NEON) {
        kt_register_neon_float(table);
        kt_register_neon_legacy(table);
        kt_register_neon_kquants(table);
        kt_register_neon_gemm(table);
    }
#endif
    return true;
}

static kt_traits active_table[KT_TYPE_COUNT];
static int active_isa;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    int best = KT_ISA_SCALAR;
    for (int i = KT_ISA_COUNT - 1; i > KT_ISA_SCALAR; i--) {
        if (kt_isa_supported(i)) {
            best = i;
            break;
        }
    }
    const char *want = getenv("KESTREL_ISA");
    if (want && *want) {
        int forced = -1;
        for (int i = 0; i < KT_ISA_COUNT; i++)
            if (strcmp(want, isa_names[i]) == 0)
                forced = i;
        if (forced < 0)
            fprintf(stderr, "kestrel: KESTREL_ISA=%s is not a known level; using %s\n", want, isa_names[best]);
        else if (!kt_isa_supported(forced))
            fprintf(stderr, "kestrel: this CPU cannot run KESTREL_ISA=%s; using %s\n", want, isa_names[best]);
        else
            best = forced;
    }
    active_isa = best;
    kt_isa_table(best, active_table);
}

/* How far ahead the repacked tile kernels prefetch their one weight stream,
 * for a matrix product over n_tok tokens. Measured:
 * - Zen 4, one token: the hardware prefetchers alone do about as well (the
 *   software prefetch was a wash for Q4_0 and Q4_K_M decoding, noisy).
 * - Zen 4, 2-8 tokens (batched verification): weights streaming from memory,
 *   the tiles ran 1.5-2x slower than with the weights in cache; 2 KiB ahead
 *   took one thread's 8-token Q8_0 tile from 398 to 263 us (2048 x 2048).
 * - Intel Xeon (Sapphire Rapids class), one token: one thread decoded Q4_0 at
 *   11-12 t/s without and about 16 with 1 KiB ahead.
 * KESTREL_PREFETCH=bytes overrides (0 = none) for every token count. */
static int prefetch_one, prefetch_few;
static pthread_once_t prefetch_once = PTHREAD_ONCE_INIT;

static void choose_prefetch(void)
{
    prefetch_one = 0;
    prefetch_few = 2048;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d) && b == 0x756e6547u && d == 0x49656e69u && c == 0x6c65746eu) /* GenuineIntel */
        prefetch_one = prefetch_few = 1024;
#endif
    const char *env = getenv("KESTREL_PREFETCH");
    if (env && *env)
        prefetch_one = prefetch_few = atoi(env) > 0 ? atoi(env) : 0;
}

int kt_prefetch_bytes(int n_tok)
{
    pthread_once(&prefetch_once, choose_prefetch);
    return n_tok > 1 ? prefetch_few : prefetch_one;
}

int kt_active_isa(void)
{
    pthread_once(&active_once, choose);
    return active_isa;
}

const kt_traits *kt_get_traits(int type)
{
    pthread_once(&active_once, choose);
    if (type < 0 || type >= KT_TYPE_COUNT || !active_table[type].name)
        return NULL;
    return &active_table[type];
}

const char *kestrel_isa(void)
{
    return isa_names[kt_active_isa()];
}
