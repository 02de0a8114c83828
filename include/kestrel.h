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

/* ==== quantize (kestrel quantize) — src/quantize.c ============================ */

/* One tensor as it was written, for a progress line. */
typedef struct {
    int index, n_tensors;       /* 1-based position in the output, and the count */
    const char *name;
    int name_width;             /* the longest tensor name, for aligned columns */
    const char *src_type;       /* ggml's type names: "f16", "q4_K", ... */
    const char *dst_type;
    int n_dims;
    int64_t ne[4];
    uint64_t src_bytes, dst_bytes;
    bool converted;             /* false: copied as it was (norms, or already the type) */
} kestrel_quantize_tensor;

typedef struct {
    int n_tensors, n_quantized, n_threads;
    uint64_t src_bytes, dst_bytes; /* tensor data in and out */
    uint64_t file_bytes;           /* the output file */
} kestrel_quantize_stats;

typedef void (*kestrel_quantize_progress)(const kestrel_quantize_tensor *tensor, void *user);

/* Converts an F32/F16/BF16 GGUF as `llama-quantize in out TYPE` does (no
 * imatrix): TYPE is a recipe name such as "Q4_K_M", "Q8_0" or "BF16" (see
 * kestrel_quantize_type_name), and the output has llama-quantize's per-tensor
 * type mix, metadata and tensor order, so its bytes are the same. n_threads 0 =
 * physical cores. progress (may be NULL) is called after each tensor; stats
 * (may be NULL) gets the totals. The output is written as it is produced and
 * removed on failure. Returns 0 or -1. */
int kestrel_quantize(const char *in_path, const char *out_path, const char *type, int n_threads,
                     kestrel_quantize_progress progress, void *user, kestrel_quantize_stats *stats);
/* The i-th recipe name ("Q4_0", ..., "Q4_K_M", ..., "F16", "BF16", "F32"); NULL past the end. */
const char *kestrel_quantize_type_name(int i);
/* ==== end quantize ============================================================ */

/* ==== chat (kestrel chat) — src/chat.c ======================================== */

/* A built-in chat template (Jinja source) by name: "chatml", "llama2",
 * "llama3", "gemma", "phi3". NULL when there is no such name. */
const char *kestrel_chat_builtin_template(const char *name);
/* The i-th built-in template name; NULL past the end. */
const char *kestrel_chat_builtin_name(int i);
/* The template a chat with this model uses: its tokenizer.chat_template, or the
 * ChatML built-in when it has none (then *is_fallback is set true; may be NULL). */
const char *kestrel_chat_model_template(const kestrel_model *model, bool *is_fallback);

/* One message of a conversation; both strings malloc'd and NUL-terminated. */
typedef struct {
    char *role;
    char *content;
} kestrel_chat_message;

/* Parses a conversation: a JSON array of {"role": ..., "content": ...} objects,
 * or an object with "messages". A null or missing content is "", other members
 * are ignored. Returns the count with the array in *out (free it with
 * kestrel_chat_messages_free), or -1 with the message set. */
int kestrel_chat_messages_parse(const char *json, size_t len, kestrel_chat_message **out);
void kestrel_chat_messages_free(kestrel_chat_message *messages, int n);
/* The messages as a JSON array (the input of kestrel_chat_render and of
 * kestrel_chat_messages_parse), malloc'd; indent < 0 writes one line. NULL when
 * out of memory. */
char *kestrel_chat_messages_json(const kestrel_chat_message *messages, int n, int indent);
/* ==== end chat ================================================================ */

/* ==== speculative decoding — src/speculative.c, src/self_draft.c, src/deepen.c ==== */

/* A draft (a small model, an in-memory low-bit copy of the target, or n-grams of
 * the text so far) proposes tokens; the target checks them all in one batched
 * decode. At temperature 0 the output is token for token the target's own; above
 * it, modified rejection sampling keeps the target's distribution exactly. */
typedef struct kestrel_spec kestrel_spec;

typedef struct {
    int n_max;      /* most tokens drafted per target pass (llama.cpp --draft-max: 16) */
    int n_min;      /* a model draft shorter than this is not verified (--draft-min: 5);
                       clamped to the current draft length; lookup drafts ignore it */
    float p_min;    /* a model draft stops when the draft's top probability < p_min (0.9) */
    bool adaptive;  /* pick the draft length from the running acceptance rate and the
                       measured costs (default true); false: always n_max (llama.cpp) */
    bool lookup;    /* no draft model: propose what followed the last n-gram earlier on */
    int ngram_max, ngram_min; /* lookup: n-gram lengths tried, longest first (3, 1) */
    const kestrel_sampler_params *draft_sampler; /* NULL: the target's parameters */
} kestrel_spec_params;

typedef struct {
    uint64_t n_generated;      /* tokens returned */
    uint64_t n_drafted;        /* draft tokens the target verified */
    uint64_t n_accepted;       /* of which it accepted */
    uint64_t n_discarded;      /* draft tokens thrown away unverified (shorter than n_min) */
    uint64_t n_target_passes;  /* target decodes after the prompt */
    uint64_t n_draft_passes;   /* draft-model decodes */
    double t_target_ms, t_draft_ms; /* time in them (lookup counts as draft time) */
    int draft_len;             /* the current draft length (adaptive) */
} kestrel_spec_stats;

kestrel_spec_params kestrel_spec_default_params(void);
/* 0 when the two models tokenize alike (same vocabulary size within 128, same
 * BOS/EOS/add_bos, same token texts); -1 with a one-line message otherwise. */
int kestrel_spec_check_vocab(const kestrel_model *target, const kestrel_model *draft);
/* draft is NULL with params->lookup. The contexts stay the caller's; sampler
 * (NULL: the defaults) is copied. */
kestrel_spec *kestrel_spec_new(kestrel_context *target, kestrel_context *draft, const kestrel_spec_params *params,
                               const kestrel_sampler_params *sampler);
void kestrel_spec_free(kestrel_spec *spec);
/* Starts a generation after prompt[0..n) (n >= 1). The random streams go on. */
int kestrel_spec_begin(kestrel_spec *spec, const kestrel_token *prompt, int n_prompt);
/* Generates 1..max_out tokens into out (one draft/verify round). An end-of-
 * generation token is returned like any other and ends the generation. Returns
 * the count, 0 when nothing more can come (after end of generation, or the
 * target's context is full), -1 on error. */
int kestrel_spec_next(kestrel_spec *spec, kestrel_token *out, int max_out);
/* true once the target's context is full */
bool kestrel_spec_context_full(const kestrel_spec *spec);
void kestrel_spec_get_stats(const kestrel_spec *spec, kestrel_spec_stats *stats);

/* An in-memory copy of target whose matrices are requantized to type ("Q4_0",
 * "Q8_0", ... any type kestrel computes with; rows it does not divide stay as
 * they are), using only its first n_layers layers (0 = all) then the output
 * head. For --draft-self. Free it with kestrel_model_free before the target. */
kestrel_model *kestrel_model_self_draft(const kestrel_model *target, const char *type, int n_layers);

/* kestrel synth --deepen: a copy of a model with extra_layers more layers,
 * appended after the last. The new layers' q/k/v/gate/up weights and norms are
 * copies of real layers (layer i % n_layer); their output projections
 * (attn_output, ffn_down) are N(0, out_std^2), so the residual stream barely
 * moves and the text stays the original's. Every matrix is written as type
 * (NULL: each tensor keeps its type; the new ones take their source's). A
 * memory-bound stand-in for a big model. */
typedef struct {
    int extra_layers;
    const char *type;   /* "Q8_0", "F16", ...; NULL = as they are */
    float out_std;      /* default 1e-5 */
    uint64_t seed;      /* default 1 */
} kestrel_deepen_params;
kestrel_deepen_params kestrel_deepen_default_params(void);
int kestrel_deepen(const char *in_path, const char *out_path, const kestrel_deepen_params *params);
/* ==== end speculative decoding =================================================== */

#ifdef __cplusplus
}
#endif
#endif
