/* The per-row operations of the forward pass against direct formulas. */
#include <math.h>
#include <string.h>

#include "ops.h"
#include "quant/fp16.h"
#include "quant/kt_expf.h"
#include "quant/quant.h"
#include "quant/vecops.h"
#include "test.h"

static void test_rmsnorm(void)
{
    float x[5] = { 1, -2, 3, -4, 5 }, w[5] = { 1, 2, 1, 0.5f, 1 }, y[5];
    rmsnorm(y, x, w, 5, 1e-5f);
    double ms = (1 + 4 + 9 + 16 + 25) / 5.0, s = 1 / sqrt(ms + 1e-5);
    bool ok = true;
    for (int i = 0; i < 5; i++)
        ok &= fabs(y[i] - x[i] * s * w[i]) < 1e-6;
    CHECK(ok, "rmsnorm matches x / rms(x) * w");
    rmsnorm(x, x, w, 5, 1e-5f); /* in place */
    CHECK(memcmp(x, y, sizeof y) == 0, "rmsnorm in place gives the same bits");
}

/* Rotating by the angle of position p: pairs are (2i, 2i+1) for NORM and (i, i+n/2) for NEOX. */
static void test_rope(void)
{
    enum { HD = 8, NROT = 8 };
    float c[NROT / 2], s[NROT / 2];
    const int pos = 7;
    rope_tables(pos, NROT, 10000.0f, 1.0f, NULL, c, s);
    bool ok = true;
    for (int i = 0; i < NROT / 2; i++) {
        double theta = pos * pow(10000.0, -2.0 * i / NROT);
        ok &= fabs(c[i] - cos(theta)) < 1e-5 && fabs(s[i] - sin(theta)) < 1e-5;
    }
    CHECK(ok, "rope angles are pos * base^(-2i/n)");

    float x[HD], norm[HD], neox[HD];
    for (int i = 0; i < HD; i++)
        x[i] = norm[i] = neox[i] = (float)(i + 1);
    rope_apply(norm, 1, HD, NROT, ROPE_NORM, c, s);
    rope_apply(neox, 1, HD, NROT, ROPE_NEOX, c, s);
    ok = true;
    for (int i = 0; i < NROT / 2; i++) {
        ok &= fabsf(norm[2 * i] - (x[2 * i] * c[i] - x[2 * i + 1] * s[i])) < 1e-6f;
        ok &= fabsf(norm[2 * i + 1] - (x[2 * i] * s[i] + x[2 * i + 1] * c[i])) < 1e-6f;
        ok &= fabsf(neox[i] - (x[i] * c[i] - x[i + NROT / 2] * s[i])) < 1e-6f;
        ok &= fabsf(neox[i + NROT / 2] - (x[i] * s[i] + x[i + NROT / 2] * c[i])) < 1e-6f;
    }
    CHECK(ok, "rope pairs adjacent dims (NORM) and halves (NEOX)");

    /* only the first n_rot dims rotate; position 0 is the identity */
    float y[HD];
    for (int i = 0; i < HD; i++)
        y[i] = (float)i;
    rope_tables(3, 4, 10000.0f, 1.0f, NULL, c, s);
    rope_apply(y, 1, HD, 4, ROPE_NEOX, c, s);
    CHECK(y[4] == 4 && y[5] == 5 && y[6] == 6 && y[7] == 7, "dims past n_rot pass through");
    rope_tables(0, NROT, 10000.0f, 1.0f, NULL, c, s);
    memcpy(y, x, sizeof y);
    rope_apply(y, 1, HD, NROT, ROPE_NORM, c, s);
    CHECK(memcmp(x, y, sizeof y) == 0, "position 0 does not rotate");

    /* linear scaling and frequency factors divide the angle */
    float c2[NROT / 2], s2[NROT / 2], ff[NROT / 2] = { 1, 2, 4, 8 };
    rope_tables(8, NROT, 10000.0f, 0.5f, NULL, c, s);
    rope_tables(4, NROT, 10000.0f, 1.0f, NULL, c2, s2);
    CHECK(fabsf(c[1] - c2[1]) < 1e-6f && fabsf(s[3] - s2[3]) < 1e-6f, "freq_scale 0.5 at pos 8 = pos 4");
    rope_tables(8, NROT, 10000.0f, 1.0f, ff, c, s);
    ok = true;
    for (int i = 0; i < NROT / 2; i++)
        ok &= fabs(c[i] - cos(8 * pow(10000.0, -2.0 * i / NROT) / ff[i])) < 1e-5;
    CHECK(ok, "rope frequency factors divide the angles");
}

static void test_activations(void)
{
    float gate[6] = { -12, -1, 0, 0.5f, 3, 11 }, up[6] = { 1, 2, 3, 4, 5, 6 }, out[6];
    gated_activation(out, gate, up, 6, FFN_SILU);
    bool ok = true;
    for (int i = 0; i < 6; i++)
        ok &= fabsf(out[i] - gate[i] / (1 + expf(-gate[i])) * up[i]) < 1e-5f * (1 + fabsf(out[i]));
    CHECK(ok, "SwiGLU: silu(gate) * up");
    gated_activation(out, gate, up, 6, FFN_GELU);
    ok = out[0] == 0 && out[5] == 11 * 6; /* clamped ends, as ggml */
    for (int i = 1; i < 5; i++) {
        double g = gate[i], ref = 0.5 * g * (1 + tanh(0.7978845608 * g * (1 + 0.044715 * g * g)));
        ok &= fabs(out[i] - ref * up[i]) < 2e-3 * (1 + fabs(ref * up[i])); /* f16 rounding */
        float h = kt_half_to_f32(kt_f32_to_half((float)ref));
        ok &= fabsf(out[i] / up[i] - h) < 1e-6f * (1 + fabsf(h));
    }
    CHECK(ok, "GeGLU: tanh-GELU through f16 as ggml's table");

    float x[3] = { -100, 0.5f, 100 };
    softcap(x, 3, 30.0f);
    CHECK(fabsf(x[0] + 30 * tanhf(100.0f / 30)) < 1e-4f && fabsf(x[1] - 30 * tanhf(0.5f / 30)) < 1e-6f &&
              x[2] < 30.0f,
          "softcap: cap * tanh(x / cap)");

    float p[4] = { 1, 2, 3, -INFINITY };
    softmax(p, 4);
    double z = exp(-2) + exp(-1) + 1;
    CHECK(fabs(p[0] - exp(-2) / z) < 1e-6 && fabs(p[2] - 1 / z) < 1e-6 && p[3] == 0, "softmax");
}

/* Attention's many-row primitives (qk, pv) of each vecops table this CPU runs
 * give exactly the bits of the reference one-row primitives (axpy on a zeroed
 * row, dot), for every tail of n, 1..9 rows and head sizes 1..72. */
static uint32_t lcg = 12345u;
static float rnd(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (float)((lcg >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void test_vecops_table(const char *name, const kt_vecops *ops, const kt_vecops *ref)
{
    enum { MAXN = 140, MAXHD = 72, MAXM = 9, KS = 150 };
    if (!ops->qk_f16 || !ops->qk_f32 || !ops->pv_f16 || !ops->pv_f32)
        return; /* a level without its own: the active table's loops over the one-row primitives */
    static float q[MAXM * MAXHD], kf[MAXHD * KS], s[MAXM * KS], s1[MAXM * KS], o[MAXM * MAXHD], o1[MAXM * MAXHD];
    static kt_half kh[MAXHD * KS];
    for (int i = 0; i < MAXHD * KS; i++) {
        kf[i] = rnd() * 4.0f;
        kh[i] = kt_f32_to_half(kf[i]);
    }
    int bad_qk = 0, bad_pv = 0;
    const int hds[] = { 1, 3, 8, 64, 72 };
    for (int hi = 0; hi < 5; hi++)
        for (int m = 1; m <= MAXM; m++)
            for (int n = 0; n <= MAXN; n += n < 20 ? 1 : n < 70 ? 7 : 13) {
                const int hd = hds[hi];
                for (int i = 0; i < m * hd; i++)
                    q[i] = rnd();
                for (int f16 = 0; f16 < 2; f16++) {
                    memset(s1, 0, sizeof s1);
                    for (int j = 0; j < m; j++)
                        for (int d = 0; d < hd; d++) {
                            if (f16)
                                ref->axpy_f16(n, q[j * hd + d], kh + d * KS, s1 + j * KS);
                            else
                                ref->axpy_f32(n, q[j * hd + d], kf + d * KS, s1 + j * KS);
                        }
                    memset(s, 0, sizeof s);
                    if (f16)
                        ops->qk_f16(n, hd, m, q, (size_t)hd, kh, KS, s, KS);
                    else
                        ops->qk_f32(n, hd, m, q, (size_t)hd, kf, KS, s, KS);
                    bad_qk += memcmp(s, s1, sizeof s) != 0;
                    for (int j = 0; j < m; j++)
                        for (int d = 0; d < hd; d++)
                            o1[j * hd + d] = f16 ? ref->dot_f16(n, s1 + j * KS, kh + d * KS)
                                                 : ref->dot_f32(n, s1 + j * KS, kf + d * KS);
                    if (f16)
                        ops->pv_f16(n, hd, m, s1, KS, kh, KS, o, (size_t)hd);
                    else
                        ops->pv_f32(n, hd, m, s1, KS, kf, KS, o, (size_t)hd);
                    bad_pv += memcmp(o, o1, sizeof(float) * (size_t)(m * hd)) != 0;
                }
            }
    CHECK(bad_qk == 0 && bad_pv == 0, "vecops %s: qk %d, pv %d cases differ from the reference one-row primitives",
          name, bad_qk, bad_pv);
}

/* kt_expf within 2 ulp of exp over its whole range, with the edges exact. */
static void test_kt_expf(void)
{
    double worst = 0;
    for (float x = -103.9f; x < 88.7f; x += 0.00731f) {
        const double want = exp((double)x), got = kt_expf(x);
        const double ulp = want < 1.1754944e-38 ? 1.4e-45 : ldexp(1.0, ilogb(want) - 23);
        const double err = fabs(got - want) / ulp;
        worst = err > worst ? err : worst;
    }
    CHECK(worst <= 2.0, "kt_expf: worst error %.2f ulp", worst);
    CHECK(kt_expf(0.0f) == 1.0f && kt_expf(-INFINITY) == 0.0f && kt_expf(-200.0f) == 0.0f &&
              isinf(kt_expf(89.0f)) && isnan(kt_expf(NAN)) && kt_expf(88.7f) < INFINITY,
          "kt_expf edges");
}

/* exp_sum and silu_mul of every table: the reference's bits, every tail, edge inputs included. */
static void test_vecops_exp(const char *name, const kt_vecops *ops, const kt_vecops *ref)
{
    enum { N = 100 };
    static float x[N], a[N], b[N], g[N], u[N], o1[N], o2[N];
    int bad_sum = 0, bad_silu = 0;
    for (int n = 0; n <= N; n++) {
        for (int i = 0; i < N; i++) {
            x[i] = rnd() * 120.0f;
            g[i] = rnd() * (i % 7 ? 12.0f : 150.0f);
            u[i] = rnd() * 3.0f;
        }
        if (n > 3) {
            x[n / 2] = -INFINITY;
            g[n / 3] = -INFINITY;
            g[n / 4] = 0.0f;
        }
        memcpy(a, x, sizeof x);
        memcpy(b, x, sizeof x);
        const double s1 = ref->exp_sum(a, n, 20.0f), s2 = ops->exp_sum(b, n, 20.0f);
        bad_sum += s1 != s2 || memcmp(a, b, sizeof a) != 0;
        memset(o1, 0, sizeof o1);
        memset(o2, 0, sizeof o2);
        ref->silu_mul(o1, g, u, n);
        ops->silu_mul(o2, g, u, n);
        bad_silu += memcmp(o1, o2, sizeof o1) != 0;
    }
    CHECK(bad_sum == 0 && bad_silu == 0, "vecops %s: exp_sum %d, silu_mul %d lengths differ from the reference", name,
          bad_sum, bad_silu);
}

static void test_vecops(void)
{
    kt_vecops ref, ops;
    kt_vecops_ref(&ref);
    test_vecops_table("active", kt_get_vecops(), &ref);
    for (int isa = 0; isa < KT_ISA_COUNT; isa++)
        if (kt_vecops_for_isa(isa, &ops)) {
            test_vecops_table(kt_isa_name(isa), &ops, &ref);
            test_vecops_exp(kt_isa_name(isa), &ops, &ref);
        }
}

int main(void)
{
    test_rmsnorm();
    test_rope();
    test_activations();
    test_kt_expf();
    test_vecops();
    return test_report();
}
