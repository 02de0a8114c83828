#include "ops.h"

#include <math.h>

#include "quant/fp16.h"
#include "quant/vecops.h"

void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    /* squares summed in double (as ggml does), in 8 interleaved partial sums
     * added pairwise: independent chains instead of one long one */
    double part[8] = { 0 };
    for (int i = 0; i < n; i++)
        part[i % 8] += (double)(x[i] * x[i]);
    const double sum = ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
    const float mean = (float)(sum / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++)
        out[i] = (x[i] * scale) * w[i];
}

void rope_tables(int pos, int n_rot, float freq_base, float freq_scale, const float *freq_factors, float *cos_table,
                 float *sin_table)
{
    /* The angle is advanced by repeated multiplication in float, as ggml does;
     * computing each power directly differs in the last bits at large positions. */
    const float theta_scale = powf(freq_base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i = 0; i < n_rot / 2; i++) {
        const float angle = freq_scale * (freq_factors ? theta / freq_factors[i] : theta);
        cos_table[i] = cosf(angle);
        sin_table[i] = sinf(angle);
        theta *= theta_scale;
    }
}

void rope_apply(float *x, int n_heads, int head_dim, int n_rot, enum rope_layout layout,
                const float *cos_table, const float *sin_table)
{
    const int half = n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            /* NORM pairs neighbours; NEOX pairs dim i with dim i + n_rot/2. */
            const int a = layout == ROPE_NORM ? 2 * i : i;
            const int b = layout == ROPE_NORM ? 2 * i + 1 : i + half;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * cos_table[i] - x1 * sin_table[i];
            v[b] = x0 * sin_table[i] + x1 * cos_table[i];
        }
    }
}

/* GELU with the tanh approximation. ggml evaluates it through a table indexed
 * by the f16 input and holding f16 outputs; doing the same roundings keeps
 * logits within llama.cpp's. */
static float gelu_f16(float x)
{
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f)
        return x;
    const float h = kt_half_to_f32(kt_f32_to_half(x));
    const float y = 0.5f * h * (1.0f + tanhf(0.79788456080286535587989211986876f * h * (1.0f + 0.044715f * h * h)));
    return kt_half_to_f32(kt_f32_to_half(y));
}

void gated_activation(float *out, const float *gate, const float *up, int n, enum ffn_activation act)
{
    if (act == FFN_GELU) {
        for (int i = 0; i < n; i++)
            out[i] = gelu_f16(gate[i]) * up[i];
        return;
    }
    kt_get_vecops()->silu_mul(out, gate, up, n);
}

void softcap(float *x, int n, float cap)
{
    const float inv = 1.0f / cap; /* ggml scales by 1/cap, then tanh, then by cap */
    for (int i = 0; i < n; i++)
        x[i] = tanhf(x[i] * inv) * cap;
}

void add_bias(float *x, const float *b, int n)
{
    for (int i = 0; i < n; i++)
        x[i] += b[i];
}

double exp_sum(float *x, int n, float max) { return kt_get_vecops()->exp_sum(x, n, max); }

void softmax(float *x, int n)
{
    float max = -INFINITY;
    for (int i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    const float inv = (float)(1.0 / exp_sum(x, n, max));
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}
