/* The K-quant scale searches (see kquant_search.h). Every float expression
 * keeps ggml's operand order so that results agree to the last bit. */
#include "kquant_search.h"

#include <math.h>

/* Index of the element of largest magnitude (the first one on ties), or -1
 * when every element is below KT_GROUP_MAX_EPS in magnitude (or NaN). */
static int index_of_amax(int n, const float *x)
{
    float amax = 0;
    int at = -1;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            at = i;
        }
    }
    return amax < KT_GROUP_MAX_EPS ? -1 : at;
}

float kt_make_qx_quants(int n, int nmax, const float *restrict x, int8_t *restrict L)
{
    int at = index_of_amax(n, x);
    if (at < 0) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float max = x[at];
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = kt_clamp_int(kt_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = kt_clamp_int(kt_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + kt_clamp_int(kt_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

float kt_make_q3_quants(int n, int nmax, const float *restrict x, int8_t *restrict L)
{
    int at = index_of_amax(n, x);
    if (at < 0) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / x[at];
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = kt_clamp_int(kt_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    /* Coordinate descent: re-round one element against the fit of the others. */
    for (int pass = 0; pass < 5; pass++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0))
                continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int new_l = kt_clamp_int(kt_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == L[i])
                continue;
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                n_changed++;
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

float kt_make_qkx2_quants(int n, int nmax, const float *restrict x, const float *restrict weights,
                          uint8_t *restrict L, float *restrict the_min, uint8_t *restrict Laux,
                          float rmin, float rdelta, int nstep, int use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        int l = kt_clamp_int(kt_nearest_int(iscale * (x[i] - min)), 0, nmax);
        L[i] = (uint8_t)l;
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_err += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = kt_clamp_int(kt_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        /* Weighted least squares for x ~ this_scale * l + this_min. */
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            diff = use_mad ? fabsf(diff) : diff * diff;
            err += weights[i] * diff;
        }
        if (err < best_err) {
            memcpy(L, Laux, (size_t)n);
            best_err = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

void kt_quantize_k4_block(const float *restrict x, int nmax, float rmin, int nstep,
                          uint8_t *restrict L, uint8_t scales[12], kt_half *d, kt_half *dmin)
{
    float weights[32], mins[8], sub_scales[8];
    uint8_t Laux[32], ls[8], lm[8];
    float max_scale = 0, max_min = 0; /* the min is subtracted, so scales are >= 0 */
    for (int s = 0; s < 8; s++) {
        const float *xs = x + 32 * s;
        float sum_x2 = 0;
        for (int k = 0; k < 32; k++)
            sum_x2 += xs[k] * xs[k];
        float av_x = sqrtf(sum_x2 / 32);
        for (int k = 0; k < 32; k++)
            weights[k] = av_x + fabsf(xs[k]);
        sub_scales[s] = kt_make_qkx2_quants(32, nmax, xs, weights, L + 32 * s, &mins[s], Laux,
                                            rmin, 0.1f, nstep, 0);
        if (sub_scales[s] > max_scale) max_scale = sub_scales[s];
        if (mins[s] > max_min) max_min = mins[s];
    }

    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int s = 0; s < 8; s++) {
        /* Through uint8_t first, as ggml does: a negative level wraps to >= 64. */
        uint8_t a = (uint8_t)kt_nearest_int(inv_scale * sub_scales[s]);
        uint8_t b = (uint8_t)kt_nearest_int(inv_min * mins[s]);
        ls[s] = a < 63 ? a : 63;
        lm[s] = b < 63 ? b : 63;
    }
    kt_put_scale_min_k4(scales, ls, lm);
    *d = kt_f32_to_half(max_scale / 63.f);
    *dmin = kt_f32_to_half(max_min / 63.f);

    for (int s = 0; s < 8; s++) {
        const float ds = kt_half_to_f32(*d) * ls[s];
        if (!ds)
            continue; /* keep the search's levels */
        const float dm = kt_half_to_f32(*dmin) * lm[s];
        for (int k = 0; k < 32; k++)
            L[32 * s + k] = (uint8_t)kt_clamp_int(kt_nearest_int((x[32 * s + k] + dm) / ds), 0, nmax);
    }
}
