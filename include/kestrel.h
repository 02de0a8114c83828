/* kestrel — CPU inference for GGUF language models. The public C API.
 *
 * Every function that can fail returns NULL or a negative number and leaves a
 * one-line message ("<file>: <what is wrong>") in kestrel_last_error(). */
#ifndef KESTREL_H
#define KESTREL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KESTREL_VERSION "0.1.0"

typedef int32_t kestrel_token;
typedef struct kestrel_model kestrel_model;
typedef struct kestrel_context kestrel_context;
typedef struct kestrel_sampler kestrel_sampler;
typedef struct kestrel_gguf kestrel_gguf;

/* The message of the last failure on this thread. */
const char *kestrel_last_error(void);

/* The instruction set the kernels were chosen for, e.g. "scalar". */
const char *kestrel_isa(void);

/* ---- model ---------------------------------------------------------------- */

/* Maps the file read-only and binds the weights in place (no copy). */
kestrel_model *kestrel_model_load(const char *path);
/* Loads only the tokenizer (vocab-only GGUFs work): tokenize and detokenize,
 * no decode. */
kestrel_model *kestrel_model_load_vocab(const char *path);
void kestrel_model_free(kestrel_model *model);

/* A string metadata value (e.g. "tokenizer.chat_template"), NUL-terminated and
 * owned by the model, or NULL when absent or not a string. */
const char *kestrel_model_meta_str(const kestrel_model *model, const char *key);

typedef struct {
    const char *arch;       /* general.architecture */
    const char *name;       /* general.name, or the file name */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx_train;
    uint64_t n_params;      /* weights, tied embeddings counted once */
    uint64_t file_size;     /* bytes */
    uint64_t weight_bytes;  /* bytes of tensor data */
    const char *type_name;  /* most common matrix type, e.g. "Q4_K" */
} kestrel_model_info;

void kestrel_model_get_info(const kestrel_model *model, kestrel_model_info *info);

/* ---- vocabulary --------------------------------------------------------------- */

int kestrel_n_vocab(const kestrel_model *model);
kestrel_token kestrel_token_bos(const kestrel_model *model); /* -1 when none */
kestrel_token kestrel_token_eos(const kestrel_model *model);
bool kestrel_token_is_eog(const kestrel_model *model, kestrel_token token);
bool kestrel_add_bos(const kestrel_model *model); /* tokenizer.ggml.add_bos_token */

/* Tokenizes len bytes of text. add_special adds BOS/EOS as the model asks;
 * parse_special turns control-token text such as "<s>" into those tokens.
 * Returns the number of tokens; when that exceeds max_tokens nothing useful is
 * written and the negated count is returned, so the caller can retry.
 * KESTREL_TOKENIZE_ERROR (message set) when the text cannot be tokenized. */
#define KESTREL_TOKENIZE_ERROR INT32_MIN

/* The same, into a malloc'd array (free it): NULL on error, *n_tokens set. */
kestrel_token *kestrel_tokenize_alloc(const kestrel_model *model, const char *text, size_t len,
                                      bool add_special, bool parse_special, int *n_tokens);
int kestrel_tokenize(const kestrel_model *model, const char *text, size_t len,
                     kestrel_token *tokens, int max_tokens, bool add_special, bool parse_special);

/* Writes the bytes of one token (not NUL-terminated). Control tokens give
 * nothing unless special is true. Returns the byte count, or its negation when
 * buf is too small. */
int kestrel_token_to_piece(const kestrel_model *model, kestrel_token token, char *buf, int len,
                           bool special);

/* Joins pieces into text that is always valid UTF-8 so far: a byte token that
 * starts a multi-byte character is held back until the character is complete. */
typedef struct {
    char pending[8];
    int n_pending;
} kestrel_utf8_stream;

/* Appends the printable text for `token` to out (at most cap bytes, NUL-terminated)
 * and returns its length. Invalid UTF-8 comes out as U+FFFD. A negative token
 * flushes what is held back. When cap is too small nothing is written and the
 * negated size needed (NUL included) is returned. */
int kestrel_detokenize_stream(const kestrel_model *model, kestrel_utf8_stream *stream,
                              kestrel_token token, char *out, int cap);

/* ---- context: KV cache and scratch ------------------------------------------ */

typedef enum { KESTREL_KV_F16 = 0, KESTREL_KV_F32 = 1 } kestrel_kv_type;

typedef struct {
    int n_ctx;        /* KV cache length; 0 = the model's training context */
    int n_batch;      /* most tokens one forward pass takes; longer batches are split */
    int n_threads;    /* 0 = physical cores */
    kestrel_kv_type kv_type;
} kestrel_context_params;

kestrel_context_params kestrel_context_default_params(void);
kestrel_context *kestrel_context_new(kestrel_model *model, const kestrel_context_params *params);
void kestrel_context_free(kestrel_context *ctx);
int kestrel_n_ctx(const kestrel_context *ctx);
int kestrel_n_threads(const kestrel_context *ctx);

/* Evaluates n_tokens tokens at positions pos, pos+1, ... Each token attends to
 * every cache position up to its own (causal); what the cache held at those
 * positions is overwritten, so rolling back is just evaluating at an earlier pos.
 * all_logits keeps the logits of every token (n_tokens <= n_batch then);
 * otherwise only those of the last one. Returns 0 or -1. */
int kestrel_decode(kestrel_context *ctx, const kestrel_token *tokens, int n_tokens, int pos,
                   bool all_logits);

/* Logits of the i-th token of the last decode (all_logits), or of its last token
 * when i is -1. n_vocab floats. */
const float *kestrel_logits(const kestrel_context *ctx, int i);

/* ---- sampling ----------------------------------------------------------------- */

#define KESTREL_SEED_RANDOM UINT64_MAX /* seed: pick one from time, pid and /dev/urandom */

typedef struct {
    float temp;             /* <= 0: greedy */
    int top_k;              /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off */
    int repeat_last_n;      /* tokens the penalties look back over; -1 = all seen */
    float frequency_penalty;
    float presence_penalty;
    uint64_t seed;
} kestrel_sampler_params;

kestrel_sampler_params kestrel_sampler_default_params(void);
/* params may be NULL: the defaults. */
kestrel_sampler *kestrel_sampler_new(const kestrel_sampler_params *params, int n_vocab);
void kestrel_sampler_free(kestrel_sampler *sampler);
/* Picks a token from logits (not modified) with the chain penalties → top-k →
 * top-p → min-p → temperature → random draw, llama.cpp's default order. */
kestrel_token kestrel_sampler_sample(kestrel_sampler *sampler, const float *logits);
/* Records a token (prompt or generated) for the repetition penalties; sample()
 * does not record what it picks, the caller accepts it. */
void kestrel_sampler_accept(kestrel_sampler *sampler, kestrel_token token);
void kestrel_sampler_reset(kestrel_sampler *sampler);

/* ---- chat templates ---------------------------------------------------------- */

/* Renders a Jinja chat template the way transformers' apply_chat_template does.
 * messages_json is a JSON array of {"role": ..., "content": ...} objects (the
 * OpenAI shape, tool_calls included); tools_json is a JSON array or NULL.
 * On success *out is a malloc'd NUL-terminated string (free it) and 0 is
 * returned; a template that raises, or bad input, returns -1 with the message in
 * kestrel_last_error(). */
int kestrel_chat_render(const char *template_src, const char *messages_json,
                        const char *tools_json, bool add_generation_prompt,
                        const char *bos_token, const char *eos_token, char **out);

/* ---- GGUF inspection (kestrel info) ---------------------------------------- */

kestrel_gguf *kestrel_gguf_open(const char *path);
void kestrel_gguf_close(kestrel_gguf *gguf);
uint32_t kestrel_gguf_version(const kestrel_gguf *gguf);
uint64_t kestrel_gguf_alignment(const kestrel_gguf *gguf);
uint64_t kestrel_gguf_data_offset(const kestrel_gguf *gguf);
int64_t kestrel_gguf_n_kv(const kestrel_gguf *gguf);
const char *kestrel_gguf_kv_key(const kestrel_gguf *gguf, int64_t i);
/* The value's type as text: "uint32", "string", "array[string]", ... */
const char *kestrel_gguf_kv_type(const kestrel_gguf *gguf, int64_t i);
/* The value as text: numbers, quoted strings, arrays as [a, b, ... (N items)]
 * with at most max_items items shown. Returns the length written. */
int kestrel_gguf_kv_format(const kestrel_gguf *gguf, int64_t i, char *buf, size_t cap,
                           int max_items);
int64_t kestrel_gguf_n_tensors(const kestrel_gguf *gguf);
typedef struct {
    const char *name;
    const char *type_name;
    int n_dims;
    int64_t ne[4];
    uint64_t offset; /* from the start of the data section */
    uint64_t nbytes;
} kestrel_tensor_info;
void kestrel_gguf_tensor(const kestrel_gguf *gguf, int64_t i, kestrel_tensor_info *info);

/* ==== synthetic models and benchmarking (kestrel synth, kestrel bench) ======= */

typedef struct {
    const char *shape;      /* a built-in shape: "tiny", "tinyllama-1.1b", ... */
    const char *type;       /* a llama-quantize recipe: "Q4_0", "Q4_K_M", "F16", ... */
    const char *vocab_path; /* GGUF whose tokenizer.* is copied; NULL = the shape's default */
    bool synth_vocab;       /* make a byte-level SPM vocab of the shape's size instead */
    const char *shared_dir; /* where the default vocab is looked up (<dir>/vocab/...);
                               NULL = $KESTREL_SHARED, then ../shared */
    uint64_t seed;
    int n_layer;            /* 0 = the shape's */
    int n_threads;          /* 0 = physical cores */
    bool pure;              /* every matrix in the recipe's type (no llama.cpp mix) */
} kestrel_synth_params;

kestrel_synth_params kestrel_synth_default_params(void);
/* Writes a random-weight Llama GGUF. Same parameters (thread count aside),
 * same bytes. Returns 0 or -1. */
int kestrel_synth(const char *path, const kestrel_synth_params *params);
/* The i-th built-in shape (name, one-line description) or recipe name; NULL
 * past the end. */
const char *kestrel_synth_shape_name(int i, const char **description);
const char *kestrel_synth_type_name(int i);

/* This machine's streaming read bandwidth in bytes/s: n_threads (0 = physical
 * cores) each read their share of a `bytes` buffer; the best of `passes`.
 * Returns a negative number on failure. */
double kestrel_read_bandwidth(int n_threads, size_t bytes, int passes);
/* Bytes of weights one decoded token reads: every matrix of the forward pass
 * (the output included), the norms, and one row of token_embd when it is not
 * also the output matrix. */
uint64_t kestrel_model_bytes_per_token(const kestrel_model *model);
/* Bytes of K and V cache per position (all layers) for a cache type. */
uint64_t kestrel_model_kv_bytes_per_pos(const kestrel_model *model, kestrel_kv_type type);
/* general.file_type as llama.cpp names it ("Q4_K - Medium"), or the model's most
 * common matrix type when absent. */
const char *kestrel_model_ftype_name(const kestrel_model *model);
/* ==== end synth / bench ======================================================= */

#ifdef __cplusplus
}
#endif
#endif
