/* kestrel bench and kestrel synth through the CLI, on a tiny synth model: the
 * structure of each output format, never the timings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "kestrel.h"
#include "test.h"
#include "run_cli.h"

static char tmpdir[64], model[128], model2[128];

static int count_substr(const char *s, const char *sub)
{
    int n = 0;
    for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
        n++;
    return n;
}

static void test_md(void)
{
    const char *args[] = { "kestrel", "bench", "-m", model, "-p", "8", "-n", "4", "-r", "2", "--bw-mib", "16", NULL };
    cli_result r = run_kestrel(args);
    CHECK(r.status == 0, "md: exit %d: %s", r.status, r.err);
    CHECK(strstr(r.out, "| model") && strstr(r.out, "t/s") && strstr(r.out, "roofline"), "md header:\n%s", r.out);
    CHECK(count_substr(r.out, "| llama ") == 2, "md: one row per test:\n%s", r.out);
    CHECK(strstr(r.out, "pp8") && strstr(r.out, "tg4"), "md: test names");
    CHECK(strstr(r.out, " ± ") != NULL, "md: mean ± stddev");
    CHECK(strstr(r.out, "read bandwidth:") && strstr(r.out, "GB/s"), "md: bandwidth line");
    CHECK(strstr(r.out, kestrel_isa()) != NULL, "md: isa");
    CHECK(strstr(r.out, "%") != NULL, "md: roofline percentage");
    /* every table line has the same number of columns */
    int lines = 0, bad = 0;
    for (char *line = r.out; line && *line;) {
        char *nl = strchr(line, '\n');
        if (line[0] == '|') {
            int bars = 0;
            for (char *c = line; c < (nl ? nl : line + strlen(line)); c++)
                bars += *c == '|';
            bad += bars != 9;
            lines++;
        }
        line = nl ? nl + 1 : NULL;
    }
    CHECK(lines == 4 && bad == 0, "md: 4 table lines of 8 columns (%d lines, %d bad)", lines, bad);
    cli_result_free(&r);
}

static void test_csv(void)
{
    const char *args[] = { "kestrel", "bench", "-m", model, "-p", "8", "-n", "4", "-r", "2", "--bw-mib", "16",
                           "-o", "csv", NULL };
    cli_result r = run_kestrel(args);
    CHECK(r.status == 0, "csv: exit %d: %s", r.status, r.err);
    CHECK(count_lines(r.out) == 3, "csv: header + 2 rows:\n%s", r.out);
    static const char *fields[] = { "\"model_filename\"", "\"model_type\"", "\"model_size\"", "\"model_n_params\"",
                                    "\"n_threads\"", "\"n_prompt\"", "\"n_gen\"", "\"avg_ts\"", "\"stddev_ts\"",
                                    "\"test_time\"", "\"roofline_fraction\"", "\"bandwidth_bps\"" };
    char *nl = strchr(r.out, '\n');
    size_t header_len = nl ? (size_t)(nl - r.out) : strlen(r.out);
    char *header = strndup(r.out, header_len);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        CHECK(header && strstr(header, fields[i]), "csv header has %s", fields[i]);
    /* same number of fields on each line (no value holds '","') */
    int n_header = count_substr(header ? header : "", "\",\"");
    char *row1 = nl ? nl + 1 : NULL;
    char *nl2 = row1 ? strchr(row1, '\n') : NULL;
    char *row1s = row1 && nl2 ? strndup(row1, (size_t)(nl2 - row1)) : NULL;
    char *row2s = nl2 ? strndup(nl2 + 1, strcspn(nl2 + 1, "\n")) : NULL;
    CHECK(row1s && row2s && count_substr(row1s, "\",\"") == n_header && count_substr(row2s, "\",\"") == n_header,
          "csv rows have %d fields", n_header + 1);
    CHECK(row1s && strstr(row1s, model) != NULL, "csv row names the model");
    free(header);
    free(row1s);
    free(row2s);
    cli_result_free(&r);
}

static const json_value *member(const json_value *o, const char *key, json_type type)
{
    const json_value *v = json_object_get(o, key);
    if (!v)
        return NULL;
    if (type == JSON_FLOAT && v->type == JSON_INT)
        return v; /* any number */
    return v->type == type ? v : NULL;
}

static double num(const json_value *v)
{
    return v->type == JSON_INT ? (double)v->u.integer : v->u.number;
}

static void test_json(void)
{
    const char *args[] = { "kestrel", "bench", "-m", model, "-m", model2, "-p", "8", "-n", "4", "-r", "2",
                           "--bw-mib", "16", "-o", "json", NULL };
    cli_result r = run_kestrel(args);
    CHECK(r.status == 0, "json: exit %d: %s", r.status, r.err);
    char err[128] = "";
    json_value *root = json_parse(r.out, r.out_len, err, sizeof err);
    CHECK(root && root->type == JSON_ARRAY, "json parses as an array: %s\n%s", err, r.out);
    if (!root || root->type != JSON_ARRAY) {
        json_free(root);
        cli_result_free(&r);
        return;
    }
    CHECK(root->u.array.count == 4, "json: 2 models x 2 tests, got %zu", root->u.array.count);
    for (size_t i = 0; i < root->u.array.count; i++) {
        const json_value *o = root->u.array.items[i];
        CHECK(o->type == JSON_OBJECT, "json item %zu is an object", i);
        static const char *strings[] = { "model_filename", "model_type", "test_time", "cpu_info", "backends",
                                         "build_commit", "isa", "type_k", "type_v" };
        for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
            CHECK(member(o, strings[k], JSON_STRING), "json item %zu: string %s", i, strings[k]);
        static const char *numbers[] = { "model_size", "model_n_params", "n_batch", "n_threads", "n_prompt",
                                         "n_gen", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
                                         "bandwidth_bps", "bytes_per_token" };
        for (size_t k = 0; k < sizeof numbers / sizeof numbers[0]; k++)
            CHECK(member(o, numbers[k], JSON_FLOAT), "json item %zu: number %s", i, numbers[k]);
        const json_value *ns = member(o, "samples_ns", JSON_ARRAY), *ts = member(o, "samples_ts", JSON_ARRAY);
        CHECK(ns && ts && ns->u.array.count == 2 && ts->u.array.count == 2, "json item %zu: 2 samples", i);
        const json_value *np = member(o, "n_prompt", JSON_FLOAT), *ng = member(o, "n_gen", JSON_FLOAT);
        const json_value *fn = member(o, "model_filename", JSON_STRING);
        const json_value *roof = json_object_get(o, "roofline_fraction");
        bool pp = i % 2 == 0;
        if (np && ng)
            CHECK(num(np) == (pp ? 8 : 0) && num(ng) == (pp ? 0 : 4), "json item %zu: pp8 then tg4", i);
        if (fn)
            CHECK(strcmp(fn->u.string.ptr, i < 2 ? model : model2) == 0, "json item %zu: model order", i);
        CHECK(roof && (pp ? roof->type == JSON_NULL : (roof->type == JSON_FLOAT || roof->type == JSON_INT)),
              "json item %zu: roofline null for pp, a number for tg", i);
        const json_value *size = member(o, "model_size", JSON_FLOAT), *params = member(o, "model_n_params", JSON_FLOAT);
        CHECK(size && params && num(size) > 0 && num(params) == 1443072, "json item %zu: size and params", i);
        const json_value *avg = member(o, "avg_ts", JSON_FLOAT);
        CHECK(avg && num(avg) > 0, "json item %zu: a positive rate", i);
    }
    json_free(root);
    cli_result_free(&r);
}

static void test_errors(void)
{
    const char *missing[] = { "kestrel", "bench", "-m", "/nonexistent.gguf", "-p", "8", "-n", "4", "-r", "1",
                              "--bw-mib", "0", NULL };
    cli_result r = run_kestrel(missing);
    CHECK(r.status == 1 && strstr(r.err, "nonexistent"), "missing model: exit %d, %s", r.status, r.err);
    cli_result_free(&r);
    const char *bad_fmt[] = { "kestrel", "bench", "-m", model, "-o", "xml", NULL };
    r = run_kestrel(bad_fmt);
    CHECK(r.status == 2, "bad -o: exit %d", r.status);
    cli_result_free(&r);
    const char *nothing[] = { "kestrel", "bench", "-m", model, "-p", "0", "-n", "0", NULL };
    r = run_kestrel(nothing);
    CHECK(r.status == 2, "-p 0 -n 0: exit %d", r.status);
    cli_result_free(&r);
    const char *help[] = { "kestrel", "bench", "--help", NULL };
    r = run_kestrel(help);
    CHECK(r.status == 0 && strstr(r.out, "usage"), "bench --help");
    cli_result_free(&r);
    /* tg only, no bandwidth probe: no roofline */
    const char *tg_only[] = { "kestrel", "bench", "-m", model, "-p", "0", "-n", "2", "-r", "1", "--bw-mib", "0",
                              "-o", "json", NULL };
    r = run_kestrel(tg_only);
    CHECK(r.status == 0 && count_substr(r.out, "\"n_gen\": 2") == 1 && strstr(r.out, "\"roofline_fraction\": null"),
          "tg only without bandwidth: exit %d\n%s", r.status, r.out);
    cli_result_free(&r);
    /* -d: the tests run after that many cached tokens, labelled as llama-bench does */
    const char *depth[] = { "kestrel", "bench", "-m", model, "-p", "4", "-n", "2", "-d", "40", "-r", "1",
                            "--bw-mib", "0", NULL };
    r = run_kestrel(depth);
    CHECK(r.status == 0 && strstr(r.out, " pp4 @ d40 |") && strstr(r.out, " tg2 @ d40 |"), "bench -d 40: exit %d\n%s",
          r.status, r.out);
    cli_result_free(&r);
    const char *depth_json[] = { "kestrel", "bench", "-m", model, "-p", "0", "-n", "2", "-d", "40", "-r", "1",
                                 "--bw-mib", "0", "-o", "json", NULL };
    r = run_kestrel(depth_json);
    CHECK(r.status == 0 && count_substr(r.out, "\"n_depth\": 40") == 1, "bench -d 40 json: exit %d\n%s", r.status,
          r.out);
    cli_result_free(&r);
}

/* bench --draft on the shared 41M target and 11M draft: a tg+draft row after tg,
 * same tokens (no warning), and a draft of another vocabulary refused in one line. */
static void test_draft(void)
{
    char target[256], draft[256], other[256];
    snprintf(target, sizeof target, "%s/models/gutenberg-41M-Q4_K_M.gguf", test_shared_dir());
    snprintf(draft, sizeof draft, "%s/models/gutenberg-11M-draft-Q8_0.gguf", test_shared_dir());
    snprintf(other, sizeof other, "%s/models/stories260K.gguf", test_shared_dir());
    /* p-min 0 so that the draft proposes and the acceptance rate is defined */
    const char *args[] = { "kestrel", "bench", "-m", target, "--draft", draft, "-p", "0", "-n", "16", "-r", "1",
                           "--bw-mib", "0", "--draft-p-min", "0", "-o", "json", NULL };
    cli_result r = run_kestrel(args);
    CHECK(r.status == 0 && r.err_len == 0, "draft json: exit %d: %s", r.status, r.err);
    json_value *root = json_parse(r.out, r.out_len, NULL, 0);
    CHECK(root && root->type == JSON_ARRAY && root->u.array.count == 2, "draft json: tg and tg+draft\n%s", r.out);
    if (root && root->type == JSON_ARRAY && root->u.array.count == 2) {
        const json_value *tg = root->u.array.items[0], *sp = root->u.array.items[1];
        const json_value *ng = member(tg, "n_gen", JSON_FLOAT), *ng2 = member(sp, "n_gen", JSON_FLOAT);
        CHECK(ng && ng2 && num(ng) == 16 && num(ng2) == 16, "draft json: 16 tokens each");
        CHECK(!json_object_get(tg, "speedup"), "draft json: no speedup on the tg row");
        const json_value *speedup = member(sp, "speedup", JSON_FLOAT), *acc = member(sp, "acceptance", JSON_FLOAT);
        const json_value *per_pass = member(sp, "tokens_per_pass", JSON_FLOAT);
        const json_value *fn = member(sp, "draft_filename", JSON_STRING);
        CHECK(speedup && num(speedup) > 0, "draft json: a positive speedup");
        CHECK(acc && num(acc) >= 0 && num(acc) <= 1, "draft json: acceptance in [0, 1]");
        CHECK(per_pass && num(per_pass) >= 1, "draft json: at least one token per target pass");
        CHECK(fn && strcmp(fn->u.string.ptr, draft) == 0, "draft json: draft_filename");
    }
    json_free(root);
    cli_result_free(&r);

    const char *md[] = { "kestrel", "bench", "-m", target, "-md", draft, "-p", "0", "-n", "4", "-r", "1",
                         "--bw-mib", "0", NULL };
    r = run_kestrel(md);
    CHECK(r.status == 0 && strstr(r.out, " tg4 |") && strstr(r.out, " tg4+draft |") && strstr(r.out, "speedup") &&
              strstr(r.out, "draft: "),
          "draft md: exit %d\n%s", r.status, r.out);
    cli_result_free(&r);

    const char *bad[] = { "kestrel", "bench", "-m", target, "--draft", other, "-p", "0", "-n", "16", "-r", "1",
                          "--bw-mib", "0", "-o", "json", NULL };
    r = run_kestrel(bad);
    CHECK(r.status != 0 && count_lines(r.err) == 1 && strstr(r.err, "draft cannot be used") && r.out_len == 0,
          "mismatched vocabularies: exit %d, one line: %s", r.status, r.err);
    cli_result_free(&r);

    const char *two[] = { "kestrel", "bench", "-m", target, "--draft", draft, "--lookup", NULL };
    r = run_kestrel(two);
    CHECK(r.status == 2 && count_lines(r.err) == 1, "--draft with --lookup: exit %d: %s", r.status, r.err);
    cli_result_free(&r);
}

static void test_synth_cli(void)
{
    char out[128];
    snprintf(out, sizeof out, "%s/cli.gguf", tmpdir);
    const char *args[] = { "kestrel", "synth", "--shape", "tiny", "--type", "Q8_0", "--seed", "9", "-o", out, NULL };
    cli_result r = run_kestrel(args);
    CHECK(r.status == 0 && access(out, R_OK) == 0, "synth CLI: exit %d: %s", r.status, r.err);
    cli_result_free(&r);
    const char *help[] = { "kestrel", "synth", "--help", NULL };
    r = run_kestrel(help);
    CHECK(r.status == 0 && strstr(r.out, "tinyllama-1.1b") && strstr(r.out, "Q4_K_M"), "synth --help lists shapes");
    cli_result_free(&r);
    const char *bad[] = { "kestrel", "synth", "--shape", "tiny", "-o", out, NULL };
    r = run_kestrel(bad);
    CHECK(r.status == 2, "synth without --type: exit %d", r.status);
    cli_result_free(&r);
    const char *bad_shape[] = { "kestrel", "synth", "--shape", "huge", "--type", "Q4_0", "-o", out, NULL };
    r = run_kestrel(bad_shape);
    CHECK(r.status == 1 && strstr(r.err, "huge"), "synth unknown shape: exit %d %s", r.status, r.err);
    cli_result_free(&r);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kestrel-bench-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(model, sizeof model, "%s/tiny-Q4_0.gguf", tmpdir);
    snprintf(model2, sizeof model2, "%s/tiny-Q4_K_M.gguf", tmpdir);
    kestrel_synth_params p = kestrel_synth_default_params();
    p.shape = "tiny";
    p.type = "Q4_0";
    int rc = kestrel_synth(model, &p);
    p.type = "Q4_K_M";
    rc |= kestrel_synth(model2, &p);
    CHECK(rc == 0, "synth the test models: %s", kestrel_last_error());
    if (rc == 0) {
        test_md();
        test_csv();
        test_json();
        test_errors();
        test_draft();
        test_synth_cli();
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_report();
}
