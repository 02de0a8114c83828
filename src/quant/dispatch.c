/* Chooses the kernels for this CPU once. For now every ISA uses the reference
 * kernels; SIMD tables plug in here. KESTREL_ISA=scalar forces the reference. */
#include "quant.h"

const kt_traits *kt_get_traits(int type)
{
    return kt_ref_traits(type);
}

const char *kestrel_isa(void)
{
    return "scalar";
}
