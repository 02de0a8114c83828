/* AVX-VNNI (VEX-encoded 256-bit VPDPBUSD: Alder Lake and later, Sapphire
 * Rapids, Zen 5) dot products of the legacy quants: the AVX2 template
 * (legacy_avx2.h) with each byte dot one VPDPBUSD. Compiled with -mavxvnni
 * and installed only when cpuid reports AVX-VNNI (dispatch.c); the quantizers
 * and the other types stay AVX2's. */
#include "quant.h"

#if defined(__x86_64__)
#define LEGACY_AVX2_VNNI 1
#include "legacy_avx2.h"

void kt_register_avxvnni_legacy(kt_traits *table)
{
    legacy_avx2_register_dots(table);
}

#else

void kt_register_avxvnni_legacy(kt_traits *table)
{
    (void)table;
}

#endif
