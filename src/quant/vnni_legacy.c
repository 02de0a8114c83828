/* vnni kernels (legacy): none yet; the reference kernels stay in the table. */
#include "quant.h"

void kt_register_vnni_legacy(kt_traits *table)
{
    (void)table;
}
