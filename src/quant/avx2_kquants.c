/* avx2 kernels (kquants): none yet; the reference kernels stay in the table. */
#include "quant.h"

void kt_register_avx2_kquants(kt_traits *table)
{
    (void)table;
}
