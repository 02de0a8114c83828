/* avx2 kernels (float): none yet; the reference kernels stay in the table. */
#include "quant.h"

void kt_register_avx2_float(kt_traits *table)
{
    (void)table;
}
