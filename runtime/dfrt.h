/*
 * dfrt: a runtime for DFloat11 (DF11) models.
 *
 * This is the library's one public header. Conventions:
 *   - every fallible function returns a dfrt_status; DFRT_OK is 0;
 *   - on failure, dfrt_last_error() returns a message for the calling thread that names the
 *     file, tensor or argument at fault;
 *   - out_ parameters come last; objects are opaque handles unless their fields are documented
 *     here; destroy/close/free functions accept NULL;
 *   - the library never aborts or exits on bad input.
 */
#ifndef DFRT_H
#define DFRT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DFRT_BUILDING) && defined(__GNUC__)
#define DFRT_API __attribute__((visibility("default")))
#else
#define DFRT_API
#endif

/* ------------------------------------------------------------------------------------------ */
/* Status and errors                                                                           */
/* ------------------------------------------------------------------------------------------ */

typedef enum dfrt_status {
    DFRT_OK = 0,
    DFRT_INVALID_ARGUMENT, /* a caller-supplied argument is wrong */
    DFRT_FORMAT_ERROR,     /* a file's contents are malformed or inconsistent */
    DFRT_IO_ERROR,         /* the operating system refused a read, write, rename... */
    DFRT_OUT_OF_MEMORY,    /* host or device allocation failed */
    DFRT_UNSUPPORTED,      /* well-formed, but outside what dfrt implements */
    DFRT_UNAVAILABLE,      /* a backend or device is not present at run time */
    DFRT_DEVICE_ERROR,     /* a GPU API call failed */
    DFRT_CANCELLED,        /* the caller's cancel flag was raised */
} dfrt_status;

/* A short constant name for a status ("format error"). */
DFRT_API const char *dfrt_status_string(dfrt_status status);

/* The detail message of the calling thread's most recent failure ("" if none). The pointer
 * stays valid until the next dfrt call on the same thread. */
DFRT_API const char *dfrt_last_error(void);

/* The library version, "MAJOR.MINOR.PATCH". */
DFRT_API const char *dfrt_version(void);

/* Warnings: something a user should know that does not stop the operation (a file skipped, a
 * tensor left unused, a model that will be slow on this backend). By default each is printed to
 * stderr as "dfrt: warning: MESSAGE"; a handler replaces that (NULL restores it). Messages are
 * escaped as dfrt_escape escapes. The handler may be called from any thread that runs a dfrt
 * call; set it before starting work. */
typedef void (*dfrt_warning_fn)(void *user, const char *message);
DFRT_API void dfrt_set_warning_handler(dfrt_warning_fn fn, void *user);

/* Text from files (tensor names, config strings, paths) made safe to print on a terminal:
 * control characters (C0, DEL, C1), bytes that are not valid UTF-8 and the Unicode
 * direction overrides become \xNN (or \u{NNNN}); everything else is copied. Writes at most
 * `size` bytes to out, always NUL-terminated when size > 0, and returns the length the whole
 * escaped text needs (without the NUL), as snprintf does. Error messages from
 * dfrt_last_error() are already escaped. */
DFRT_API size_t dfrt_escape(char *out, size_t size, const char *s);

/* The offset of the first byte of s[0..len) that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points past U+10FFFF are invalid), or len when all of it is valid. */
DFRT_API size_t dfrt_utf8_invalid_at(const char *s, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Tensors and safetensors files                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef enum dfrt_dtype {
    DFRT_DTYPE_BOOL,
    DFRT_DTYPE_U8,
    DFRT_DTYPE_I8,
    DFRT_DTYPE_I16,
    DFRT_DTYPE_U16,
    DFRT_DTYPE_F16,
    DFRT_DTYPE_BF16,
    DFRT_DTYPE_I32,
    DFRT_DTYPE_U32,
    DFRT_DTYPE_F32,
    DFRT_DTYPE_I64,
    DFRT_DTYPE_U64,
    DFRT_DTYPE_F64,
    DFRT_DTYPE_COUNT
} dfrt_dtype;

/* The safetensors name of a dtype ("BF16"), or "?" for an invalid value. */
DFRT_API const char *dfrt_dtype_name(dfrt_dtype dtype);
/* Bytes per element; 0 for an invalid value. */
DFRT_API size_t dfrt_dtype_size(dfrt_dtype dtype);
/* Parses a safetensors dtype name; false if unknown. */
DFRT_API bool dfrt_dtype_parse(const char *name, dfrt_dtype *out_dtype);

#define DFRT_MAX_DIMS 8

/* A tensor inside a mapped safetensors file. Owned by the file (or directory) it came from. */
typedef struct dfrt_tensor {
    const char *name;
    dfrt_dtype dtype;
    int n_dims;
    int64_t shape[DFRT_MAX_DIMS];
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data; /* little-endian, inside the mapping; no alignment is promised */
    const char *file; /* path of the file that holds it */
} dfrt_tensor;

typedef struct dfrt_st_file dfrt_st_file;

/* Maps a safetensors file read-only and validates its header completely against the file
 * size (header length, JSON, dtypes, shapes, byte counts, offsets in range and not
 * overlapping). The file stays mapped until dfrt_st_file_close. */
DFRT_API dfrt_status dfrt_st_file_open(const char *path, dfrt_st_file **out_file);
DFRT_API void dfrt_st_file_close(dfrt_st_file *file);
DFRT_API const char *dfrt_st_file_path(const dfrt_st_file *file);
/* Tensors in order of their data offsets. */
DFRT_API size_t dfrt_st_file_count(const dfrt_st_file *file);
DFRT_API const dfrt_tensor *dfrt_st_file_tensor(const dfrt_st_file *file, size_t index);
/* NULL if the file has no tensor of that name. */
DFRT_API const dfrt_tensor *dfrt_st_file_find(const dfrt_st_file *file, const char *name);
/* A string from the header's "__metadata__" block, or NULL. */
DFRT_API const char *dfrt_st_file_metadata(const dfrt_st_file *file, const char *key);

/* Every tensor of a model directory: all *.safetensors files in it, checked against
 * model.safetensors.index.json when there is one. A tensor name in two files is an error. */
typedef struct dfrt_tensor_set dfrt_tensor_set;

DFRT_API dfrt_status dfrt_tensor_set_open(const char *dir, dfrt_tensor_set **out_set);
DFRT_API void dfrt_tensor_set_close(dfrt_tensor_set *set);
/* Tensors sorted by name. */
DFRT_API size_t dfrt_tensor_set_count(const dfrt_tensor_set *set);
DFRT_API const dfrt_tensor *dfrt_tensor_set_get(const dfrt_tensor_set *set, size_t index);
DFRT_API const dfrt_tensor *dfrt_tensor_set_find(const dfrt_tensor_set *set, const char *name);
/* The files, in name order. */
DFRT_API size_t dfrt_tensor_set_file_count(const dfrt_tensor_set *set);
DFRT_API const dfrt_st_file *dfrt_tensor_set_file(const dfrt_tensor_set *set, size_t index);

/* Writing safetensors files. Tensors are laid out as the Python safetensors package lays them
 * out (by dtype size descending, then name; header padded with spaces to 8 bytes). The file is
 * written under a temporary name in the same directory and renamed into place by
 * dfrt_st_writer_finish, so an interrupted write never leaves a file that looks complete. */
typedef struct dfrt_st_writer dfrt_st_writer;

DFRT_API dfrt_status dfrt_st_writer_create(const char *path, dfrt_st_writer **out_writer);
/* Adds a "__metadata__" string entry. */
DFRT_API dfrt_status dfrt_st_writer_set_metadata(dfrt_st_writer *w, const char *key,
                                                 const char *value);
/* Adds a tensor. The writer copies name and shape; data is only borrowed and must stay valid
 * until dfrt_st_writer_finish returns. n_dims may be 0 (a scalar). */
DFRT_API dfrt_status dfrt_st_writer_add(dfrt_st_writer *w, const char *name, dfrt_dtype dtype,
                                        int n_dims, const int64_t *shape, const void *data);
/* Writes header and data, flushes to disk and renames the file into place. Frees the writer
 * whatever the outcome; on failure the temporary file is removed. */
DFRT_API dfrt_status dfrt_st_writer_finish(dfrt_st_writer *w);
/* Abandons a writer: removes its temporary file and frees it. Accepts NULL. */
DFRT_API void dfrt_st_writer_abort(dfrt_st_writer *w);

/* ------------------------------------------------------------------------------------------ */
/* Model configuration (config.json)                                                           */
/* ------------------------------------------------------------------------------------------ */

typedef enum dfrt_rope_type {
    DFRT_ROPE_DEFAULT,
    DFRT_ROPE_LLAMA3,
    DFRT_ROPE_LINEAR,
    DFRT_ROPE_OTHER, /* named in rope_type_name; not implemented */
    DFRT_ROPE_LONGROPE, /* Phi-3: short_factor / long_factor by sequence length, attention_factor */
} dfrt_rope_type;

/* One pattern_dict entry: a module-name regex (Python re.fullmatch semantics) and the
 * attribute list whose weights make up a unit (empty: the module's own weight). */
typedef struct dfrt_df11_pattern {
    char *regex;
    int n_attrs;
    char **attrs;
} dfrt_df11_pattern;

#define DFRT_MAX_EOS 8

/* The parts of config.json dfrt uses. Both the transformers 4.x schema (rope_theta,
 * rope_scaling, torch_dtype) and the 5.x schema (rope_parameters, dtype) are read. Fields
 * that config.json does not give are 0 (or the architecture's default, where noted). */
typedef struct dfrt_config {
    char *architecture; /* architectures[0], e.g. "Qwen3ForCausalLM"; "" when absent */
    char *model_type;   /* "qwen3", ...; "" when absent */
    char *dtype;        /* dtype / torch_dtype; "" when absent */
    int64_t vocab_size;
    int64_t hidden_size;
    int64_t intermediate_size;
    int64_t n_layers;    /* num_hidden_layers */
    int64_t n_heads;     /* num_attention_heads */
    int64_t n_kv_heads;  /* num_key_value_heads, defaults to n_heads */
    int64_t head_dim;    /* head_dim, defaults to hidden_size / n_heads */
    int64_t max_position_embeddings;
    bool tie_word_embeddings; /* default false for the supported architectures */
    bool attention_bias;      /* q/k/v biases (Qwen2 always has them) */
    double rms_norm_eps;
    double rope_theta;
    dfrt_rope_type rope_type;
    char *rope_type_name; /* as written in config.json; NULL when absent */
    double rope_factor;
    double rope_low_freq_factor;
    double rope_high_freq_factor;
    int64_t rope_original_max_position;
    double partial_rotary_factor; /* the rotated share of each head (Phi-3); 1 when absent */
    /* longrope: the per-frequency factors for sequences up to rope_original_max_position (short)
     * and past it (long), rope_n_factors each; the attention factor (0 when absent) */
    int rope_n_factors;
    double *rope_short_factor, *rope_long_factor;
    double rope_attention_factor;
    int64_t sliding_window;       /* keys a query sees (Phi-3, Mistral, Gemma 3's local layers); 0 when
                                     absent, null or turned off (use_sliding_window false, as Qwen2 / Qwen3) */
    /* Which layers attend over a sliding window: layer_types ("sliding_attention"), Gemma 3's
     * older sliding_window_pattern (every pattern-th layer full), else all of them when
     * sliding_window is set. n_layer_types entries (0: NULL, every layer alike). */
    int n_layer_types;
    bool *layer_sliding;
    char *other_layer_type; /* the first layer type neither of those ("\"layer_types\"[i] is ..."), or NULL */
    /* Gemma 3: the sliding layers' own RoPE (rope_local_base_freq, or rope_parameters'
     * "sliding_attention"; default RoPE of that base), 0 when the sliding layers use the model's */
    double rope_local_theta;
    double query_pre_attn_scalar; /* attention scaled by its ^-0.5 instead of head_dim's; 0 absent */
    double attn_softcap, final_softcap; /* attn_logit_softcapping, final_logit_softcapping; 0 absent */
    char *hidden_act;     /* hidden_act / hidden_activation; "" when absent (silu) */
    /* Where the text model's weights live: "model." ("model.layers.N", "model.embed_tokens"), or
     * for Gemma 3's image-text releases "language_model.model." (transformers before 4.52) or
     * "model.language_model." (later). dfrt_config_parse sets "model."; opening a checkpoint
     * sets the one its weights use. */
    char *weight_prefix;
    int64_t bos_token_id; /* -1 when absent */
    int n_eos;
    int64_t eos_token_ids[DFRT_MAX_EOS];

    /* dfloat11_config, when present */
    bool is_df11;
    char *df11_version;
    int n_patterns;
    dfrt_df11_pattern *patterns;
} dfrt_config;

/* Reads DIR/config.json (or a config.json path). */
DFRT_API dfrt_status dfrt_config_load(const char *dir_or_file, dfrt_config **out_config);
/* Parses config.json text; `source` names it in error messages. */
DFRT_API dfrt_status dfrt_config_parse(const char *json, size_t len, const char *source,
                                       dfrt_config **out_config);
DFRT_API void dfrt_config_free(dfrt_config *config);
/* Parses a pattern_dict JSON object ({"regex": ["attr", ...], ...}) into patterns; used for
 * the compressor's --pattern-dict. */
DFRT_API dfrt_status dfrt_pattern_dict_parse(const char *json, const char *source,
                                             int *out_n_patterns,
                                             dfrt_df11_pattern **out_patterns);
DFRT_API void dfrt_patterns_free(int n_patterns, dfrt_df11_pattern *patterns);
/* The pattern_dict the published DF11 releases use for an architecture, or
 * DFRT_UNSUPPORTED naming the architecture. */
DFRT_API dfrt_status dfrt_default_patterns(const dfrt_config *config, int *out_n_patterns,
                                           dfrt_df11_pattern **out_patterns);

/* A compiled set of patterns, matched with Python re.fullmatch semantics through PCRE2 with
 * match and depth limits, so that no pattern can hang the caller. */
typedef struct dfrt_matcher dfrt_matcher;
DFRT_API dfrt_status dfrt_matcher_create(int n_patterns, const dfrt_df11_pattern *patterns,
                                         const char *source, dfrt_matcher **out_matcher);
DFRT_API void dfrt_matcher_free(dfrt_matcher *m);
/* Index of the first pattern that fully matches name, -1 if none. A pattern that hits the
 * match limit is DFRT_FORMAT_ERROR. */
DFRT_API dfrt_status dfrt_matcher_match(const dfrt_matcher *m, const char *name,
                                        int *out_index);

/* ------------------------------------------------------------------------------------------ */
/* DF11 units                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Fixed by the format: 512 threads per block, 8 bytes per thread. */
#define DFRT_DF11_WINDOW_BITS 64u
#define DFRT_DF11_CHUNK_BYTES 4096u
#define DFRT_DF11_CHUNK_BITS (DFRT_DF11_CHUNK_BYTES * 8u)
#define DFRT_DF11_WINDOWS_PER_CHUNK 512u
#define DFRT_DF11_GAP_BYTES_PER_CHUNK 320u /* 512 windows x 5 bits */
#define DFRT_DF11_MAX_TABLES 17u
#define DFRT_DF11_MAX_CODE_BITS 32u
#define DFRT_DF11_FIRST_POINTER 240u /* table values >= 240 point to table 256 - value */

/* One weight inside a unit: elements [offset, offset + count) of the decoded stream. */
typedef struct dfrt_df11_part {
    char *name;      /* full tensor name, "<unit>.<attr>.weight" or "<unit>.weight" */
    uint64_t offset; /* first element */
    uint64_t count;  /* elements */
    int n_dims;      /* 2 when the architecture gives the shape, else 1 */
    int64_t shape[2];
} dfrt_df11_part;

/* A validated DF11 unit. Pointers refer to the tensors it was made from (usually a mapped
 * file); the unit owns only its name and parts. */
typedef struct dfrt_df11_unit {
    char *name;                 /* module name, e.g. "model.layers.3" */
    uint64_t n;                 /* weights */
    uint32_t n_tables;          /* decode tables; luts has n_tables + 1 rows */
    const uint8_t *luts;        /* (n_tables + 1, 256): tables, then the code-length row */
    const uint8_t *stream;      /* (n_bytes): Huffman-coded exponents, MSB first */
    uint64_t n_bytes;
    const uint8_t *sign_mantissa;    /* (n) */
    const uint8_t *output_positions; /* (n_positions) little-endian uint32, unaligned */
    uint32_t n_positions;            /* n_chunks + 1, or n_chunks (see the format doc) */
    const uint8_t *gaps;             /* (n_chunks * 320): 5-bit gaps, MSB first */
    uint32_t n_chunks;               /* ceil(n_bytes / 4096) */
    uint32_t max_chunk_weights;      /* largest count of codes starting in one chunk */
    uint32_t max_code_bits;          /* longest code in the lengths row */
    int n_parts;
    dfrt_df11_part *parts; /* in stream order */
} dfrt_df11_unit;

/* The six tensors of a unit, as they come from a file. */
typedef struct dfrt_df11_tensors {
    const dfrt_tensor *luts;
    const dfrt_tensor *encoded_exponent;
    const dfrt_tensor *sign_mantissa;
    const dfrt_tensor *output_positions;
    const dfrt_tensor *gaps;
    const dfrt_tensor *split_positions;
} dfrt_df11_tensors;

/* Builds and validates a unit from its six tensors: dtypes and shapes, n_chunks, gap size and
 * values, output positions (0 first, non-decreasing, n last, at most 32768 codes per chunk),
 * table pointers inside the table count, at most 17 tables, a code-length row consistent with
 * the tables (every symbol in a table has a length 1..32, pointers have none, Kraft sum <= 1),
 * split positions increasing inside (0, n). part_names (n_part_names entries) name the weights
 * in stream order and must match the split count; pass NULL to name them "<unit>.part<i>".
 * A unit that passes cannot make any dfrt decoder read or write out of bounds. */
DFRT_API dfrt_status dfrt_df11_unit_init(const char *name, const dfrt_df11_tensors *tensors,
                                         int n_part_names, const char *const *part_names,
                                         dfrt_df11_unit *out_unit);
/* Frees what dfrt_df11_unit_init allocated (not the tensors). */
DFRT_API void dfrt_df11_unit_release(dfrt_df11_unit *unit);

/* The first weight whose code starts in chunk c, for c in [0, n_chunks]; n for c = n_chunks. */
DFRT_API uint64_t dfrt_df11_chunk_start(const dfrt_df11_unit *unit, uint32_t chunk);
/* The smallest chunk range [*out_first, *out_first + *out_count) whose weights cover
 * [begin, end) (end <= n). Decoding that range yields weights from
 * dfrt_df11_chunk_start(unit, *out_first) on. */
DFRT_API void dfrt_df11_chunks_covering(const dfrt_df11_unit *unit, uint64_t begin,
                                        uint64_t end, uint32_t *out_first,
                                        uint32_t *out_count);

/* Decodes the whole unit into out (n BF16 values as uint16), in parallel over chunks using
 * the index with n_threads threads (<= 0: one per core). Checks on the way that every gap
 * and output position agrees with the stream: a DFRT_FORMAT_ERROR names the chunk. */
DFRT_API dfrt_status dfrt_df11_decode(const dfrt_df11_unit *unit, uint16_t *out, int n_threads);
/* Decodes chunks [first, first + count) into out, which receives weights
 * [chunk_start(first), chunk_start(first + count)). */
DFRT_API dfrt_status dfrt_df11_decode_chunks(const dfrt_df11_unit *unit, uint32_t first,
                                             uint32_t count, uint16_t *out);
/* Decodes the whole unit from the start of the stream without using gaps or output
 * positions: an independent check of the indexed decoders. */
DFRT_API dfrt_status dfrt_df11_decode_sequential(const dfrt_df11_unit *unit, uint16_t *out);

/* A unit produced by the compressor; owns its buffers. Field meanings as in dfrt_df11_unit. */
typedef struct dfrt_df11_encoded {
    uint64_t n;
    uint32_t n_tables;
    uint8_t *luts;          /* (n_tables + 1, 256) */
    uint8_t *stream;        /* (n_bytes) */
    uint64_t n_bytes;
    uint8_t *sign_mantissa; /* (n) */
    uint8_t *output_positions; /* (4 * n_positions) */
    uint32_t n_positions;
    uint8_t *gaps;          /* (gaps_bytes) */
    uint64_t gaps_bytes;
    int64_t *split_positions; /* (n_splits) */
    uint32_t n_splits;
    uint32_t max_code_bits;
    bool code_limited; /* the 32-bit limit changed the code */
} dfrt_df11_encoded;

/* Compresses the concatenation of n_parts BF16 arrays (counts[i] values each) exactly as the
 * reference compressor does, byte for byte. part_names name the arrays in error messages
 * (NULL: "part <i>"). Exponents 240..255 (|w| >= 2^113, Inf, NaN) are refused with an error
 * naming the array and index; so is a code needing more than 17 decode tables. cancel, if not
 * NULL, is polled: when it becomes non-zero the call returns DFRT_CANCELLED. */
DFRT_API dfrt_status dfrt_df11_encode(const char *unit_name, int n_parts,
                                      const uint16_t *const *parts, const uint64_t *counts,
                                      const char *const *part_names, const volatile int *cancel,
                                      dfrt_df11_encoded *out);
DFRT_API void dfrt_df11_encoded_free(dfrt_df11_encoded *enc);

/* ------------------------------------------------------------------------------------------ */
/* Checkpoints: a Hugging Face model directory, DF11 or BF16                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct dfrt_checkpoint dfrt_checkpoint;

/* Opens a model directory: config.json, every safetensors file, and (when config.json has a
 * dfloat11_config) every DF11 unit, discovered by its six tensor names, matched to
 * pattern_dict and validated. Refuses the pre-2025 pickle format with a clear message. */
DFRT_API dfrt_status dfrt_checkpoint_open(const char *dir, dfrt_checkpoint **out_checkpoint);
DFRT_API void dfrt_checkpoint_close(dfrt_checkpoint *cp);
DFRT_API const char *dfrt_checkpoint_dir(const dfrt_checkpoint *cp);
DFRT_API const dfrt_config *dfrt_checkpoint_config(const dfrt_checkpoint *cp);
DFRT_API const dfrt_tensor_set *dfrt_checkpoint_tensors(const dfrt_checkpoint *cp);
DFRT_API size_t dfrt_checkpoint_unit_count(const dfrt_checkpoint *cp);
DFRT_API const dfrt_df11_unit *dfrt_checkpoint_unit(const dfrt_checkpoint *cp, size_t index);
/* True if the tensor is one of the six tensors of a unit. */
DFRT_API bool dfrt_checkpoint_is_unit_tensor(const dfrt_checkpoint *cp, const char *name);
/* Looks a weight up by its BF16 name: either a plain tensor (*out_tensor set) or a part of a
 * DF11 unit (*out_unit and *out_part set). DFRT_INVALID_ARGUMENT naming the weight if it is
 * neither. Any out pointer may be NULL. */
DFRT_API dfrt_status dfrt_checkpoint_find_weight(const dfrt_checkpoint *cp, const char *name,
                                                 const dfrt_tensor **out_tensor,
                                                 const dfrt_df11_unit **out_unit,
                                                 int *out_part);

/* ------------------------------------------------------------------------------------------ */
/* Whole-directory operations                                                                  */
/* ------------------------------------------------------------------------------------------ */

/* Progress: called from worker threads (serialised by the library) with weights done so far
 * and the total. */
typedef void (*dfrt_progress_fn)(void *user, uint64_t done, uint64_t total);

typedef struct dfrt_compress_options {
    const char *pattern_dict_json; /* NULL: the architecture's default pattern_dict */
    int n_threads;                 /* <= 0: one per core */
    dfrt_progress_fn progress;
    void *progress_user;
    const volatile int *cancel; /* polled; non-zero makes the call return DFRT_CANCELLED */
} dfrt_compress_options;

/* BF16 Hugging Face directory -> DF11 directory laid out as the reference lays it out. The
 * output is built in a temporary directory beside out_dir and renamed into place at the end;
 * out_dir must not exist or be empty. Nothing is left behind on failure. */
DFRT_API dfrt_status dfrt_compress_dir(const char *bf16_dir, const char *out_dir,
                                       const dfrt_compress_options *options);

typedef struct dfrt_decompress_options {
    int n_threads;
    dfrt_progress_fn progress;
    void *progress_user;
    const volatile int *cancel;
} dfrt_decompress_options;

/* DF11 directory -> BF16 directory that transformers loads (one shard per DF11 file plus
 * model.safetensors.index.json when there are several), config.json without
 * dfloat11_config, other files copied. Same temporary-directory discipline as compress. */
DFRT_API dfrt_status dfrt_decompress_dir(const char *df11_dir, const char *out_dir,
                                         const dfrt_decompress_options *options);

/* Synthetic models: the shapes and config.json of real releases with random weights (matrices
 * normal with std 0.02 rounded to BF16, RMSNorm weights 1), for benchmarks and tests where
 * the real weights are not at hand. The bytes depend only on the model's name. */
typedef struct dfrt_synthetic_info {
    const char *name;         /* "llama-3.1-8b", "qwen3-8b", "qwen3-4b", "llama-3.3-70b", "qwen3-32b", "tiny" */
    const char *architecture; /* "LlamaForCausalLM", "Qwen3ForCausalLM" */
    uint64_t parameters;      /* weights in all tensors */
} dfrt_synthetic_info;

/* The synthetic models dfrt can build (a static array); returns the count. */
DFRT_API size_t dfrt_synthetic_list(const dfrt_synthetic_info **out);

typedef struct dfrt_synthetic_options {
    int n_threads; /* <= 0: one per core */
    /* Weights done out of 2 x parameters: generating the BF16 weights is the first half,
     * compressing them the second. Not called when nothing needs building. */
    dfrt_progress_fn progress;
    void *progress_user;
    const volatile int *cancel; /* polled; non-zero makes the call return DFRT_CANCELLED */
    /* dfrt_synthetic_checkpoint: the host memory it may count on (0: the machine's, from
     * sysconf; a VM whose memory grows as it is used reports less than it has) */
    uint64_t host_memory_bytes;
} dfrt_synthetic_options;

/* Makes sure CACHE_DIR/NAME-v1/bf16 (a BF16 Hugging Face directory: config.json,
 * generation_config.json, and model.safetensors or, past 2 GiB, shards of at most 2 GiB with
 * model.safetensors.index.json; no tokenizer) and CACHE_DIR/NAME-v1/df11 (it compressed by
 * dfrt_compress_dir with the default pattern_dict) exist, building what is missing; cache_dir
 * is created if needed. Each directory is built beside its place and renamed into it, so one
 * that exists is complete; on failure or cancellation nothing partial is left (a BF16
 * directory finished before compression failed stays). Checks the free disk space first
 * (DFRT_IO_ERROR with the GB needed and free). An unknown name is DFRT_INVALID_ARGUMENT
 * listing the known ones. *out_bf16_dir and *out_df11_dir are malloc'ed paths (free them);
 * *out_built says whether anything was built. Any out pointer may be NULL. */
DFRT_API dfrt_status dfrt_synthetic_model(const char *name, const char *cache_dir,
                                          const dfrt_synthetic_options *options, char **out_bf16_dir,
                                          char **out_df11_dir, bool *out_built);
/* A synthetic model built in host memory, with no file written: the same tensors as the
 * directories of dfrt_synthetic_model (the DF11 one is what dfrt_compress_dir makes of the
 * BF16 one; its weights are made a unit at a time from the seed, so the BF16 model is never
 * whole in memory). Units are made and compressed on n_threads threads, fewer when host
 * memory is short (each holds one BF16 unit). Refuses, with DFRT_OUT_OF_MEMORY and the sizes,
 * a model larger than host memory (host_memory_bytes). Close it with dfrt_checkpoint_close;
 * it has no tokenizer and no generation_config.json (config.json's eos_token_id ends
 * sequences). */
DFRT_API dfrt_status dfrt_synthetic_checkpoint(const char *name, bool df11, const dfrt_synthetic_options *options,
                                               dfrt_checkpoint **out_checkpoint);
/* The config.json of a synthetic model, parsed (without building anything). */
DFRT_API dfrt_status dfrt_synthetic_config(const char *name, dfrt_config **out_config);

/* Result of verifying one unit. */
typedef struct dfrt_verify_unit {
    const char *name;
    uint64_t n;
    uint64_t compressed_bytes; /* all six tensors */
    dfrt_status status;
    const char *message; /* "" when status is DFRT_OK */
    int n_parts_compared;  /* parts compared against the BF16 directory */
    double seconds;
} dfrt_verify_unit;

typedef void (*dfrt_verify_fn)(void *user, const dfrt_verify_unit *result);

/* A plain (not DF11) tensor that differs between the two directories. */
typedef void (*dfrt_verify_tensor_fn)(void *user, const char *tensor, const char *message);

typedef struct dfrt_verify_options {
    int n_threads;
    dfrt_verify_fn on_unit; /* called once per unit, in unit order, from the calling thread */
    dfrt_verify_tensor_fn on_tensor_failure;
    void *user;
} dfrt_verify_options;

typedef struct dfrt_verify_summary {
    int n_units;
    int n_units_failed;
    uint64_t n_weights;
    int n_tensors_compared; /* plain tensors compared against the BF16 directory */
    int n_tensors_failed;
} dfrt_verify_summary;

/* Validates and decodes every unit of a DF11 directory with both the indexed and the
 * sequential decoder; with bf16_dir (may be NULL) compares every weight and every plain tensor
 * bit for bit. Returns DFRT_OK only when everything holds; a per-unit failure is reported
 * through on_unit and the summary and makes the call return DFRT_FORMAT_ERROR. */
DFRT_API dfrt_status dfrt_verify_dir(const char *df11_dir, const char *bf16_dir,
                                     const dfrt_verify_options *options,
                                     dfrt_verify_summary *out_summary);


/* ------------------------------------------------------------------------------------------ */
/* Tokenizer: Hugging Face tokenizer.json, byte-level BPE                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct dfrt_tokenizer dfrt_tokenizer;

/* Loads a tokenizer.json (path to the file, or a model directory holding one). Supports the
 * byte-level BPE tokenizers of Qwen2/Qwen3, Llama 3 and the DeepSeek distills: added tokens,
 * normalizer NFC or none, pre-tokenizer Split(regex, Isolated) + ByteLevel (or ByteLevel with
 * its own regex), BPE merges with ignore_merges, byte-level decoder. Anything else is
 * DFRT_UNSUPPORTED naming the component. */
DFRT_API dfrt_status dfrt_tokenizer_load(const char *path, dfrt_tokenizer **out_tokenizer);
DFRT_API void dfrt_tokenizer_free(dfrt_tokenizer *t);
/* Number of ids (largest id + 1, added tokens included). */
DFRT_API int32_t dfrt_tokenizer_vocab_size(const dfrt_tokenizer *t);
/* Encodes UTF-8 text as Hugging Face tokenizers' encode(text, add_special_tokens=False) does:
 * added and special tokens in the text are recognised, nothing is prepended or appended.
 * Invalid UTF-8 is DFRT_INVALID_ARGUMENT naming the byte offset. *out_ids is malloc'ed (free()). */
DFRT_API dfrt_status dfrt_tokenizer_encode(const dfrt_tokenizer *t, const char *text, size_t len, int32_t **out_ids,
                                           size_t *out_count);
/* Encodes untrusted text (a user's message): as dfrt_tokenizer_encode, but no added token is
 * recognised, so "<|im_end|>" in the text becomes the ids of its characters, never the control
 * token. For special tokens this is Hugging Face's encode(text, add_special_tokens=False,
 * split_special_tokens=True); dfrt splits the non-special added tokens too (DeepSeek-R1's
 * "<｜User｜>" is one), so that no text can produce a marker of a chat format. */
DFRT_API dfrt_status dfrt_tokenizer_encode_plain(const dfrt_tokenizer *t, const char *text, size_t len,
                                                 int32_t **out_ids, size_t *out_count);
/* Decodes ids to UTF-8 text (special tokens included as their text). *out_text is malloc'ed
 * and NUL-terminated. Ids out of range are DFRT_INVALID_ARGUMENT. */
DFRT_API dfrt_status dfrt_tokenizer_decode(const dfrt_tokenizer *t, const int32_t *ids, size_t n, char **out_text,
                                           size_t *out_len);
/* The bytes one token stands for after byte-level decoding (possibly part of a UTF-8
 * sequence; concatenating the tokens of a text gives its bytes back). Owned by the tokenizer. */
DFRT_API dfrt_status dfrt_tokenizer_token_bytes(const dfrt_tokenizer *t, int32_t id, const char **out_bytes,
                                                size_t *out_len);
/* The id of a token given as its tokenizer.json string ("<|im_end|>", "Ġthe"), or -1. */
DFRT_API int32_t dfrt_tokenizer_find(const dfrt_tokenizer *t, const char *token);

/* ------------------------------------------------------------------------------------------ */
/* Backends, devices and buffers                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef struct dfrt_backend dfrt_backend;
typedef struct dfrt_buffer dfrt_buffer;
typedef struct dfrt_device_df11 dfrt_device_df11;

typedef enum dfrt_device_type {
    DFRT_DEVICE_DISCRETE_GPU,
    DFRT_DEVICE_INTEGRATED_GPU,
    DFRT_DEVICE_VIRTUAL_GPU,
    DFRT_DEVICE_CPU, /* the CPU backend, or a CPU implementation of Vulkan such as lavapipe */
    DFRT_DEVICE_OTHER,
} dfrt_device_type;

/* "discrete GPU", "integrated GPU", "virtual GPU", "CPU" or "other". */
DFRT_API const char *dfrt_device_type_name(dfrt_device_type type);

/* A device of a compiled-in backend. Unavailable backends are listed too, with the reason. */
/* A matrix multiply-add shape a device runs as one cooperative operation of a subgroup
 * (Vulkan: VK_NV_cooperative_matrix): result (m x n) = a (m x k) . b (k x n) + c, with its
 * component types ("f16", "f32", "s8", ...). */
typedef struct dfrt_coopmat_shape {
    uint32_t m, n, k;
    char a[8], b[8], c[8], result[8];
} dfrt_coopmat_shape;

typedef struct dfrt_device_info {
    char backend[16]; /* "cuda", "vulkan", "cpu" */
    int index;        /* within its backend; -1 for the one entry of a backend without devices, which says why */
    char name[256];
    dfrt_device_type type;
    bool available;
    char unavailable_reason[256];
    uint64_t memory_bytes;   /* device memory (host memory for the CPU backend) */
    char api_version[64];    /* Vulkan API version, CUDA runtime version */
    char driver_version[64];
    /* Capabilities the runtime uses (0 / false where the backend has no such notion). */
    uint32_t subgroup_size;
    uint32_t shared_memory_bytes;        /* per workgroup / block */
    uint64_t max_storage_buffer_range;   /* largest range one binding may cover */
    uint64_t max_allocation_bytes;
    uint32_t min_storage_buffer_offset_alignment;
    bool storage_8bit, storage_16bit, int64, subgroup_arithmetic, timestamps;
    /* bit j: this device reads and writes the memory of device j of its backend directly
     * (CUDA peer access, over NVLink or PCIe); 0: copies to other devices go through host
     * memory (always on Vulkan and the CPU backend) */
    uint32_t peer_mask;
    int compute_capability;  /* CUDA: 90 for sm_90 */
    int multiprocessors;     /* CUDA SMs; CPU cores */
    /* Vulkan: the cooperative-matrix extension the device offers ("" when none) and its
     * subgroup-scope shapes (the first 16). */
    char coopmat_extension[32];
    uint32_t n_coopmat;
    dfrt_coopmat_shape coopmat[16];
} dfrt_device_info;

/* Every device of every compiled-in backend (free with free()). */
DFRT_API dfrt_status dfrt_device_list(dfrt_device_info **out_devices, size_t *out_count);

/* Opens a backend: "cuda", "vulkan", "cpu", or "auto" (CUDA, then a Vulkan GPU, discrete
 * before integrated, then the CPU backend). device_index picks among that backend's devices
 * (-1: the first suitable one). A backend that is compiled in but has no driver or device is
 * DFRT_UNAVAILABLE with the reason. */
DFRT_API dfrt_status dfrt_backend_open(const char *which, int device_index, dfrt_backend **out_backend);
DFRT_API void dfrt_backend_close(dfrt_backend *b);
DFRT_API const dfrt_device_info *dfrt_backend_info(const dfrt_backend *b);
DFRT_API const char *dfrt_backend_name(const dfrt_backend *b);
/* Which device was chosen and why ("auto: CUDA device 0, NVIDIA H100 80GB HBM3"). */
DFRT_API const char *dfrt_backend_selection(const dfrt_backend *b);
/* The CPU backend's worker threads (0: one per CPU of the process's affinity mask, the
 * default). Other backends are DFRT_UNSUPPORTED. Not while work is running. */
DFRT_API dfrt_status dfrt_backend_set_threads(dfrt_backend *b, int n_threads);
/* Waits for all enqueued work. */
DFRT_API dfrt_status dfrt_backend_synchronize(dfrt_backend *b);
/* Bytes in live buffers now, and at most so far. */
DFRT_API uint64_t dfrt_backend_allocated(const dfrt_backend *b);
DFRT_API uint64_t dfrt_backend_peak_allocated(const dfrt_backend *b);
/* Restarts the peak at the bytes allocated now. */
DFRT_API void dfrt_backend_reset_peak(dfrt_backend *b);
/* Device-timestamped interval around the work enqueued between the two calls (CUDA events,
 * Vulkan timestamp queries, the wall clock on the CPU). timer_end waits for the work. */
DFRT_API dfrt_status dfrt_backend_timer_begin(dfrt_backend *b);
DFRT_API dfrt_status dfrt_backend_timer_end(dfrt_backend *b, double *out_ms);

/* Device buffers. Contents are undefined until written. An allocation larger than the device
 * allows is DFRT_OUT_OF_MEMORY naming the size. */
/* Host memory the device copies from fastest (page-locked on CUDA, host-visible buffers on
 * Vulkan, ordinary memory on the CPU); NULL when there is not enough. dfrt_host_free waits for
 * the device's work first, since copies from it may still be in flight. */
DFRT_API void *dfrt_host_alloc(dfrt_backend *b, size_t size);
DFRT_API void dfrt_host_free(dfrt_backend *b, void *p);
/* Copies size bytes of dfrt_host_alloc memory into dst as offloaded layers are copied: on the
 * backend's copy queue where it has one (CUDA: a second stream), recorded in the command
 * stream on Vulkan; ordered after the work enqueued before and before the work enqueued after,
 * and done at the next dfrt_backend_synchronize. Other memory goes through dfrt_buffer_write. */
DFRT_API dfrt_status dfrt_host_copy(dfrt_buffer *dst, size_t offset, const void *src, size_t size);
DFRT_API dfrt_status dfrt_buffer_alloc(dfrt_backend *b, size_t size, dfrt_buffer **out_buffer);
DFRT_API void dfrt_buffer_free(dfrt_buffer *buf);
DFRT_API size_t dfrt_buffer_size(const dfrt_buffer *buf);
/* Write, fill and copy are ordered after the work already enqueued; read waits for it. */
DFRT_API dfrt_status dfrt_buffer_write(dfrt_buffer *buf, size_t offset, const void *src, size_t size);
DFRT_API dfrt_status dfrt_buffer_read(const dfrt_buffer *buf, size_t offset, void *dst, size_t size);
DFRT_API dfrt_status dfrt_buffer_fill(dfrt_buffer *buf, size_t offset, size_t size, uint8_t value);
DFRT_API dfrt_status dfrt_buffer_copy(dfrt_buffer *dst, size_t dst_offset, const dfrt_buffer *src,
                                      size_t src_offset, size_t size);

/* A communicator over buffers of several backends (devices), for tensor parallelism: NCCL on
 * CUDA where it loads (libnccl.so.2, or DFRT_NCCL naming the file; NVLink multicast off unless
 * NCCL_NVLS_ENABLE says otherwise) and the devices are distinct, else sums through host memory
 * (any backends, logical devices too). */
typedef struct dfrt_comm dfrt_comm;
DFRT_API dfrt_status dfrt_comm_create(dfrt_backend *const *backends, int n, dfrt_comm **out_comm);
DFRT_API void dfrt_comm_free(dfrt_comm *comm);
/* "NCCL 2.21.5 (libnccl.so.2)", or "host memory (why NCCL is not used)" */
DFRT_API const char *dfrt_comm_name(const dfrt_comm *comm);
/* bufs[i] (backend i's) holds count fp32 values at offset; each becomes their sum, ordered
 * after the work enqueued on every backend before and before the work enqueued after. The
 * host sum adds in device order, so its result is the same on every device. */
DFRT_API dfrt_status dfrt_comm_all_reduce(dfrt_comm *comm, dfrt_buffer *const *bufs, size_t offset, uint64_t count);

/* ------------------------------------------------------------------------------------------ */
/* Ops                                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Uploads a validated DF11 unit's tensors to the device (it stays compressed there). */
DFRT_API dfrt_status dfrt_df11_upload(dfrt_backend *b, const dfrt_df11_unit *unit, dfrt_device_df11 **out);
DFRT_API void dfrt_device_df11_free(dfrt_device_df11 *u);
/* Bytes the unit holds in device memory (its buffers, padding included). */
DFRT_API uint64_t dfrt_device_df11_bytes(const dfrt_device_df11 *u);
/* How a backend keeps DF11 units in device memory (runtime/backend.h's dfrt_df11_layout):
 * 0 as in the file (gaps and output positions), 1 with a segment index and a 12-bit decode
 * table in place of the gaps (for backends whose df11_matmul decodes any row range). */
DFRT_API int dfrt_backend_df11_layout(const dfrt_backend *b);
/* Bytes a host unit will hold in device memory once uploaded to a backend of that layout:
 * dfrt_device_df11_bytes of the uploaded unit, exactly (0 for a layout that does not exist). */
DFRT_API uint64_t dfrt_df11_device_bytes(const dfrt_df11_unit *unit, int layout);

/* The ops themselves, each with its args struct, are declared in ops.h. */
#include "ops.h"

/* ------------------------------------------------------------------------------------------ */
/* Models: load once onto a backend, run forward passes, generate                              */
/* ------------------------------------------------------------------------------------------ */

typedef struct dfrt_model dfrt_model;

#define DFRT_MAX_DEVICES 16 /* devices one model may be split over */

typedef struct dfrt_model_options {
    int max_context;  /* tokens per sequence (0: min(max_position_embeddings, 4096)) */
    int max_batch;    /* sequences held at once (0: 1) */
    int max_rows;     /* token rows per forward pass; longer prefills go in pieces (0: 512 on the CPU
                         backend, which gains nothing from longer ones and stops on Ctrl-C only
                         between ops; 2048 on GPUs: on the H200, llama-3.1-8b BF16 prefills 8 x 128
                         tokens at 27.4 k tokens/s with 2048 against 23.7 k with 512, and an
                         8064-token prompt's first token comes after 364 ms against 413;
                         activations take 4 x 2048 x (3 hidden + q, k, v + heads x head_dim + 3
                         intermediate) bytes, 0.54 GB for that model) */
    int eager;        /* nonzero: every pass runs op by op; 0: passes of up to 64 rows that want every
                         row's logits (decode steps) are recorded once per shape where the backend
                         records work (CUDA graphs) and replayed, without a launch per op */
    int kv_f32;       /* nonzero: the KV cache holds fp32 keys and values; 0: BF16 (half the memory,
                         rounded to nearest even when stored; attention's math is fp32 either way) */
    const char *tokenizer_path; /* a tokenizer.json to use instead of the directory's (NULL: the
                                   directory's, when it has one); checked against the model alike */
    /* Offloading DF11 layers: their units stay in host memory, in the device layout, and each
     * is copied to one of two device slots right before its layer runs (passes then run op
     * by op). offload_layers: the last N layers (-1: all); weight_budget: the device bytes
     * the weights may take, the last layers offloaded until they fit (DFRT_OUT_OF_MEMORY when
     * the other weights and the slots alone exceed it). Give one at most (0: neither). */
    int offload_layers;
    uint64_t weight_budget;
    /* Layer split over several devices of the backend: each runs a contiguous range of layers
     * (their weights, norms and KV cache), the first also the embedding, the last the final
     * norm and lm_head; after its layers, each hands the residual stream to the next (a peer
     * copy where the backend has one, else through host memory). devices: the devices'
     * indices in the backend, in order; devices[0] must be the device of the backend given to
     * the load, and the model opens the others itself (an index may repeat: two logical
     * devices on one GPU, each with its own queue and memory accounting). device_shares: each
     * device's share of the bytes (all 0: by each device's memory). n_devices 0 or 1: the
     * backend given runs every layer. Not with offloading. */
    int n_devices;
    int devices[DFRT_MAX_DEVICES];
    double device_shares[DFRT_MAX_DEVICES];
    /* nonzero, with n_devices > 1: tensor parallelism over those devices instead of the layer
     * split. Each device (rank) runs every layer over its share of the attention heads, KV
     * heads and MLP columns: q, k, v, gate and up by rows, o and down by columns, the layer's
     * DF11 unit cut into one unit per rank at load (decoded and encoded again, so each decodes
     * bit-exactly to its share); the o and down projections' shares are summed across ranks
     * (dfrt_comm: NCCL on CUDA, else through host memory), so results differ from one device's
     * by fp32 rounding only. Heads, KV heads and intermediate size must divide by n_devices;
     * the projections must be separate weights (not Phi-3's fused ones); equal shares only;
     * passes run op by op. */
    int tensor_parallel;
} dfrt_model_options;

/* Loads a Hugging Face model directory (DF11 or BF16) onto a backend: LlamaForCausalLM
 * (including rope_type llama3), MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM. DF11
 * units stay compressed on the device: backends with the fused DF11 matmul decode them inside
 * the matmuls, others into one scratch buffer right before use. Checks every tensor's
 * presence, dtype and shape, and that the model fits the device's memory (DFRT_OUT_OF_MEMORY
 * with the sizes otherwise). The backend must outlive the model.
 * Loads tokenizer.json when the directory has one. */
DFRT_API dfrt_status dfrt_model_load(dfrt_backend *b, const char *dir, const dfrt_model_options *options,
                                     dfrt_model **out_model);
/* dfrt_model_load of a checkpoint already open (dfrt_synthetic_checkpoint, say), which stays
 * the caller's: the model borrows its config, so close it only after dfrt_model_free. */
DFRT_API dfrt_status dfrt_model_load_checkpoint(dfrt_backend *b, const dfrt_checkpoint *checkpoint,
                                                const dfrt_model_options *options, dfrt_model **out_model);
/* Whether dfrt_model_load would load a checkpoint's model, short of the device: the same checks
 * (one function does them for both) but the device memory. The architecture and config; every
 * weight the config requires (a missing one is named), with its dtype and shape; no tensor
 * that a config disagreeing with the weights would leave unused (layers beyond
 * num_hidden_layers, q_norm/k_norm under an architecture without them, lm_head.weight under
 * tie_word_embeddings: errors; other unused tensors are warnings, *.rotary_emb.inv_freq is
 * ignored); DF11 units laid out as the executor runs them; BOS/EOS ids inside the vocabulary;
 * tokenizer.json, when present, loadable, knowing those ids and covering at least half of
 * vocab_size (fewer tokens than vocab_size is normal: padded embedding rows). */
DFRT_API dfrt_status dfrt_model_check(const dfrt_checkpoint *cp);
DFRT_API void dfrt_model_free(dfrt_model *m);
DFRT_API const dfrt_config *dfrt_model_config(const dfrt_model *m);
/* NULL when the directory has no tokenizer.json. */
DFRT_API const dfrt_tokenizer *dfrt_model_tokenizer(const dfrt_model *m);
DFRT_API int dfrt_model_max_context(const dfrt_model *m);
/* What the model's KV cache holds: DFRT_KV_BF16 unless loaded with kv_f32. */
DFRT_API dfrt_kv_type dfrt_model_kv_type(const dfrt_model *m);
DFRT_API int dfrt_model_max_batch(const dfrt_model *m);
/* Bytes the model holds on its backend (weights, scratch, KV cache, activations). */
DFRT_API uint64_t dfrt_model_device_bytes(const dfrt_model *m);
/* The layers whose DF11 units stay in host memory (dfrt_model_options.offload_layers,
 * weight_budget), 0 when all are on the device; and (each may be NULL) how many copies to the
 * device their units took so far, and the bytes copied. */
DFRT_API int dfrt_model_offloaded_layers(const dfrt_model *m, uint64_t *out_copies, uint64_t *out_copied_bytes);
/* The devices a model runs on, in the order a pass visits them (dfrt_model_options.n_devices;
 * one entry without a split): up to max entries into out (NULL: none), and their count. */
typedef struct dfrt_model_device {
    dfrt_backend *backend;       /* the first is the backend given to the load; the model owns the others */
    uint32_t first_layer, n_layers; /* the layers it runs */
    bool embedding, lm_head;     /* whether it holds them (and the final norm, with lm_head) */
    uint64_t device_bytes;       /* allocated on it once the model was loaded */
} dfrt_model_device;
DFRT_API int dfrt_model_devices(const dfrt_model *m, dfrt_model_device *out, int max);
/* The KV cache's bytes on the backend (keys and values of every layer, for max_batch sequences
 * of max_context positions); *out_per_token (may be NULL): its bytes per position of one
 * sequence. */
DFRT_API uint64_t dfrt_model_kv_bytes(const dfrt_model *m, uint64_t *out_per_token);
/* The end-of-sequence ids (config.json and generation_config.json). */
DFRT_API int dfrt_model_eos(const dfrt_model *m, const int32_t **out_ids);

/* One forward pass over `rows` tokens: row r is token tokens[r] of sequence slots[r] at
 * position positions[r] (a sequence's rows in increasing positions; positions below them
 * must have been run before). For the rows listed in logit_rows, writes vocab_size logits
 * each to out_logits (may be NULL) and the index of the largest to out_argmax (may be NULL). */
DFRT_API dfrt_status dfrt_model_forward(dfrt_model *m, const int32_t *tokens, const int32_t *slots,
                                        const int32_t *positions, uint32_t rows, const uint32_t *logit_rows,
                                        uint32_t n_logit_rows, float *out_logits, int32_t *out_argmax);

/* Sampling, in the order transformers applies it: the repetition penalty on the raw logits,
 * then temperature, top-k, top-p and min-p. Zero-initialised fields mean "off". */
typedef struct dfrt_sampling {
    float temperature;    /* 0: greedy (the largest logit, after the repetition penalty) */
    int top_k;            /* 0: off */
    float top_p;          /* 1 (or 0): off */
    uint64_t seed;        /* the random stream of sequence i is seeded from seed and i */
    float min_p;          /* 0: off; drops tokens whose probability is below min_p times the
                             most likely token's (transformers' MinPLogitsWarper) */
    float repeat_penalty; /* 1 (or 0): off; the logit of every token already in the sequence
                             (prompt or generated) is divided by it when positive and multiplied
                             when negative (transformers' RepetitionPenaltyLogitsProcessor,
                             llama.cpp's repeat_penalty over the whole sequence); applies to
                             greedy decoding too */
} dfrt_sampling;

/* Called for every generated token; return false to stop that sequence. */
typedef bool (*dfrt_token_fn)(void *user, int sequence, int32_t token);

typedef struct dfrt_generate_options {
    dfrt_sampling sampling;
    int max_new_tokens;  /* per sequence */
    int n_sequences;     /* independent sequences of the same prompt (<= the model's max_batch) */
    bool ignore_eos;     /* do not stop at end-of-sequence tokens */
    dfrt_token_fn on_token;
    void *user;
    float *last_logits;  /* if not NULL: vocab_size logits of the last prompt position */
    /* If not NULL, polled between forward passes and between layers (a signal handler may set
     * it): once nonzero, dfrt_generate stops within one layer's work and returns
     * DFRT_CANCELLED, with the tokens generated so far already reported. */
    const volatile int *cancel;
} dfrt_generate_options;

typedef struct dfrt_generate_stats {
    int prompt_tokens;    /* per sequence */
    int generated_tokens; /* over all sequences */
    double prefill_seconds, decode_seconds;
    /* Sequences that stopped because the KV cache was full (the model's max_context), not at
     * an end-of-sequence token, max_new_tokens or on_token's request. */
    int context_full;
} dfrt_generate_stats;

/* Runs the prompt (prefill, all positions of all sequences together) and generates up to
 * max_new_tokens per sequence, sampling as asked. Token ids outside the vocabulary and
 * prompts that do not fit the context are DFRT_INVALID_ARGUMENT. */
DFRT_API dfrt_status dfrt_generate(dfrt_model *m, const int32_t *prompt, size_t n_prompt,
                                   const dfrt_generate_options *options, dfrt_generate_stats *out_stats);

/* Encodes a conversation's first turn in the chat format of the tokenizer's model family
 * (ChatML for Qwen, Llama 3's headers, DeepSeek-R1's, Mistral's [INST]), chosen from its
 * special tokens, ending where the assistant's answer begins. system (NULL or "": none) and
 * user are encoded with dfrt_tokenizer_encode_plain: text that spells a special token stays
 * text, and only the format's own markers are control tokens. *out_ids is malloc'ed. */
DFRT_API dfrt_status dfrt_chat_encode(const dfrt_tokenizer *t, const char *system, const char *user,
                                      int32_t **out_ids, size_t *out_count);
/* ------------------------------------------------------------------------------------------ */
/* Serving: continuous batching                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Why a request ended: an end-of-sequence token or the caller (on_token returned false); its
 * max_tokens or a full context; dfrt_engine_cancel or the engine's end; a failed step. */
typedef enum dfrt_finish_reason {
    DFRT_FINISH_STOP = 0,
    DFRT_FINISH_LENGTH,
    DFRT_FINISH_CANCELLED,
    DFRT_FINISH_ERROR,
} dfrt_finish_reason;

typedef struct dfrt_request_result {
    int prompt_tokens, generated_tokens;
    double queue_seconds;  /* submitted to admitted into a KV slot */
    double ttft_seconds;   /* submitted to the first token (0: none) */
    double decode_seconds; /* the first token to the end */
    const char *error;     /* DFRT_FINISH_ERROR: what failed */
} dfrt_request_result;

/* A generation request. The prompt is copied by dfrt_engine_submit. The callbacks run on the
 * engine's thread and must be quick (they hold up every running sequence): on_token for each
 * token (false: stop, finishing with DFRT_FINISH_STOP), then on_done exactly once, after which
 * the engine no longer uses `user`. */
typedef struct dfrt_request {
    const int32_t *prompt;
    size_t n_prompt;        /* 1 .. the model's context - 1 */
    int max_tokens;         /* >= 1 */
    dfrt_sampling sampling; /* seed: this request's random stream (as dfrt_generate's sequence 0) */
    /* OpenAI's penalties over the generated tokens: logit -= presence [count > 0] + frequency
     * count (the repetition penalty is sampling.repeat_penalty) */
    float presence_penalty, frequency_penalty;
    bool ignore_eos;
    bool (*on_token)(void *user, int32_t token);
    void (*on_done)(void *user, dfrt_finish_reason reason, const dfrt_request_result *result);
    void *user;
} dfrt_request;

typedef struct dfrt_engine_options {
    int max_queue;     /* requests waiting for a slot, at most (0: 4 x the model's max_batch) */
    int prefill_chunk; /* prompt tokens per step, over all prefilling sequences (0: 256) */
} dfrt_engine_options;

typedef struct dfrt_engine_stats {
    int slots, running, queued;
    uint64_t submitted, completed, failed, steps, prompt_tokens, generated_tokens;
} dfrt_engine_stats;

/* A continuous-batching engine over a loaded model: one thread owns the model (the caller must
 * not use it meanwhile); each of the model's max_batch sequences is a KV slot for one request. */
typedef struct dfrt_engine dfrt_engine;
DFRT_API dfrt_status dfrt_engine_create(dfrt_model *model, const dfrt_engine_options *options, dfrt_engine **out);
/* Queues a request (checked first: DFRT_INVALID_ARGUMENT naming what is wrong); DFRT_UNAVAILABLE
 * when the queue is full or the engine is draining. *out_id names it for dfrt_engine_cancel. */
DFRT_API dfrt_status dfrt_engine_submit(dfrt_engine *e, const dfrt_request *request, uint64_t *out_id);
/* Ends a request at the engine's next step (on_done: DFRT_FINISH_CANCELLED); unknown ids are
 * ignored. */
DFRT_API void dfrt_engine_cancel(dfrt_engine *e, uint64_t id);
/* Ends every running and waiting request at the engine's next step, as dfrt_engine_cancel. */
DFRT_API void dfrt_engine_cancel_all(dfrt_engine *e);
DFRT_API void dfrt_engine_get_stats(dfrt_engine *e, dfrt_engine_stats *out);
/* Stops taking requests and waits up to `seconds` for the running and waiting ones to end;
 * true when they all did. */
DFRT_API bool dfrt_engine_drain(dfrt_engine *e, double seconds);
/* Cancels what is left (on_done for each), stops the thread, frees the engine. */
DFRT_API void dfrt_engine_destroy(dfrt_engine *e);

/* A conversation's message: role "system" (first only), "user" or "assistant", and its text. */
typedef struct dfrt_chat_message {
    const char *role;
    const char *content;
} dfrt_chat_message;
/* Encodes a conversation in the family's chat format as dfrt_chat_encode does, every message
 * in turn, ending where the next assistant answer begins (transformers' add_generation_prompt).
 * Roles are checked (DFRT_INVALID_ARGUMENT naming messages[i]). *out_ids is malloc'ed. */
DFRT_API dfrt_status dfrt_chat_encode_messages(const dfrt_tokenizer *t, const dfrt_chat_message *messages,
                                               size_t n_messages, int32_t **out_ids, size_t *out_count);
/* The text of that chat format with the user message in place (no system message), for
 * display: encoding this text with dfrt_tokenizer_encode would turn special-token text in the
 * message into control tokens; use dfrt_chat_encode. malloc'ed text. */
DFRT_API dfrt_status dfrt_chat_format(const dfrt_model *m, const char *user_message, char **out_text);
/* Tokenizes a prompt as transformers does for generation: in the chat format when `chat`
 * (dfrt_chat_encode without a system message); otherwise with the BOS token first for Llama
 * and Mistral models (whose tokenizers add it). *out_ids is malloc'ed. */
DFRT_API dfrt_status dfrt_prompt_encode(const dfrt_model *m, const char *text, bool chat, int32_t **out_ids,
                                        size_t *out_count);

#ifdef __cplusplus
}
#endif

#endif /* DFRT_H */
