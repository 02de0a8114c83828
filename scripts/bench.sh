#!/bin/sh
# make bench: synthesizes TinyLlama-1.1B-shaped models (random weights) under
# bench/models/, runs `kestrel bench` on them and on the shipped default model,
# and writes bench/RESULTS.md.
#
# Settings (environment or make variables):
#   KESTREL_BIN    the binary (default ./kestrel)
#   BENCH_PROMPT   pp tokens (default 64)      llama-bench's defaults are
#   BENCH_GEN      tg tokens (default 32)      512 / 128 / 5; use them once
#   BENCH_REPS     repetitions (default 3)     the SIMD kernels are in
#   BENCH_THREADS  threads (default: physical cores)
#   BENCH_TYPES    synth types (default "Q4_0 Q8_0 Q4_K_M")
#   BENCH_SHAPE    synth shape (default tinyllama-1.1b)
#   BENCH_RESYNTH  1: remake the synth models even if present
#   KESTREL_SHARED the shared data folder (default ../shared), for the vocab
set -eu

KESTREL=${KESTREL_BIN:-./kestrel}
P=${BENCH_PROMPT:-64}
N=${BENCH_GEN:-32}
R=${BENCH_REPS:-3}
TYPES=${BENCH_TYPES:-"Q4_0 Q8_0 Q4_K_M"}
SHAPE=${BENCH_SHAPE:-tinyllama-1.1b}
SHARED=${KESTREL_SHARED:-../shared}
OUT=bench/RESULTS.md
MODELS=bench/models
mkdir -p "$MODELS"

if [ ! -x "$KESTREL" ]; then
    echo "bench.sh: $KESTREL is not built (run make)" >&2
    exit 1
fi

vocab_arg=""
if [ ! -f "$SHARED/vocab/ggml-vocab-llama-spm.gguf" ]; then
    echo "bench.sh: no $SHARED/vocab/ggml-vocab-llama-spm.gguf; synthesizing a vocab" >&2
    vocab_arg="--vocab synth"
fi

set --
for t in $TYPES; do
    f="$MODELS/$SHAPE-$t.gguf"
    if [ ! -f "$f" ] || [ "${BENCH_RESYNTH:-0}" = 1 ]; then
        echo "bench.sh: synthesizing $f" >&2
        # shellcheck disable=SC2086
        "$KESTREL" synth --shape "$SHAPE" --type "$t" --seed 42 $vocab_arg -o "$f.tmp"
        mv "$f.tmp" "$f"
    fi
    set -- "$@" -m "$f"
done
default_model=models/gutenberg-41M-Q4_K_M.gguf
if [ -f "$default_model" ]; then
    set -- "$@" -m "$default_model"
fi
threads_arg=""
if [ -n "${BENCH_THREADS:-}" ]; then
    threads_arg="-t $BENCH_THREADS"
fi

table=$MODELS/results.md.tmp
echo "bench.sh: $KESTREL bench $* -p $P -n $N -r $R $threads_arg" >&2
# shellcheck disable=SC2086
"$KESTREL" bench "$@" -p "$P" -n "$N" -r "$R" $threads_arg -o md > "$table"

# Speculative decoding on a memory-bound stand-in (the setting): the 41M
# model deepened by 80 near-identity layers, Q8_0, with the 11M draft.
spec_table=""
target_f16=$SHARED/models/gutenberg-41M-f16.gguf
draft=$SHARED/models/gutenberg-11M-draft-Q8_0.gguf
deep=$MODELS/deep80-Q8_0.gguf
if [ -f "$target_f16" ] && [ -f "$draft" ]; then
    if [ ! -f "$deep" ]; then
        echo "bench.sh: deepening $target_f16 into $deep" >&2
        "$KESTREL" synth --deepen "$target_f16" --extra-layers 80 --type Q8_0 -o "$deep.tmp"
        mv "$deep.tmp" "$deep"
    fi
    spec_table=$MODELS/spec.md.tmp
    echo "bench.sh: $KESTREL bench -m $deep --draft $draft --draft-p-min 0 --draft-min 0 -p 0 -n 128 -r $R $threads_arg" >&2
    # shellcheck disable=SC2086
    "$KESTREL" bench -m "$deep" --draft "$draft" --draft-p-min 0 --draft-min 0 -p 0 -n 128 -r "$R" $threads_arg -o md > "$spec_table"
fi

cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: *//')
[ -n "$cpu" ] || cpu=unknown
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_vnni|avx512_bf16|amx_tile)$' | tr '\n' ' ')
ncpu=$(nproc 2>/dev/null || echo "?")
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo "?")
l3=$(lscpu 2>/dev/null | sed -n 's/^L3 cache: *//p' | head -n 1)
version=$("$KESTREL" --version)
cc_version=$(${CC:-cc} --version 2>/dev/null | head -n 1)
now=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo "?")

{
    echo "# kestrel benchmark results"
    echo
    echo "Made by \`make bench\` (scripts/bench.sh) on $now."
    echo
    echo "| | |"
    echo "|---|---|"
    echo "| CPU | $cpu |"
    echo "| logical CPUs | $ncpu |"
    echo "| ISA flags | $flags|"
    echo "| L3 | ${l3:-?} |"
    echo "| memory | $mem |"
    echo "| kestrel | $version |"
    echo "| compiler | $cc_version |"
    echo "| load average before the run | $load |"
    echo "| settings | \`kestrel bench -p $P -n $N -r $R${threads_arg:+ $threads_arg}\` |"
    echo
    echo "## Results"
    echo
    cat "$table"
    echo
    if [ -n "$spec_table" ]; then
        echo "## Speculative decoding"
        echo
        echo "\`kestrel bench -m $deep --draft $draft --draft-p-min 0 --draft-min 0 -p 0 -n 128\`: the 41M model deepened by"
        echo "80 near-identity layers (Q8_0, a memory-bound stand-in for a big target), with the 11M draft."
        echo
        cat "$spec_table"
        echo
    fi
    echo "## Notes"
    echo
    echo "- The \`$SHAPE-*\` models are \`kestrel synth --shape $SHAPE --seed 42\`: the real shape"
    echo "  (file size and bytes read per token as the real model), random weights, llama-quantize's"
    echo "  type mix (output.weight Q6_K in Q4_0 and Q4_K_M; Q6_K attn_v/ffn_down in some layers of Q4_K_M)."
    echo "  The gutenberg model is the shipped default model."
    echo "- pp<P>: one decode of P tokens; tg<N>: N single-token decodes from position 0 (llama-bench's"
    echo "  tests). t/s is the mean ± standard deviation over the repetitions after one warm-up run."
    echo "- The bandwidth is kestrel's own probe in the same run: the same threads read a 1 GiB buffer,"
    echo "  5 passes before the first model and after each one; the best pass counts (a busy moment on a"
    echo "  shared machine lowers a probe, never raises it). The roofline fraction of a tg test is t/s × (weight bytes read per token:"
    echo "  every matrix, the output included, and one token_embd row, + the F16 KV cache at the mean"
    echo "  position) ÷ bandwidth; 100% would be generation limited only by reading memory."
    echo "- Timings on a shared machine are noisy; compare runs made back to back."
} > "$OUT"
rm -f "$table" ${spec_table:+"$spec_table"}
cat "$OUT"
