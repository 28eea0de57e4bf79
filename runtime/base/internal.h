/* Helpers shared by the runtime's files; not installed. */
#ifndef DFRT_INTERNAL_H
#define DFRT_INTERNAL_H

#include "dfrt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dfrt assumes a little-endian host (safetensors and DF11 data are little-endian)"
#endif

#define DFRT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define DFRT_UNUSED(x) ((void)(x))
#define DFRT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DFRT_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Records a failure for the calling thread and returns status. */
dfrt_status dfrt_fail(dfrt_status status, const char *fmt, ...) DFRT_PRINTF(2, 3);
/* Prepends "prefix: " to the calling thread's current message; returns status. */
dfrt_status dfrt_fail_prefix(dfrt_status status, const char *fmt, ...) DFRT_PRINTF(2, 3);
/* Length of the valid UTF-8 character at p (1 to 4, *cp its code point), or 0 with *bad set to
 * the length of the maximal invalid prefix (what one U+FFFD replaces, as Rust's from_utf8_lossy
 * does). n > 0 bytes are readable at p. */
size_t dfrt_utf8_char(const uint8_t *p, size_t n, uint32_t *cp, size_t *bad);
/* Reports a warning through the handler set with dfrt_set_warning_handler (escaped). */
void dfrt_warn(const char *fmt, ...) DFRT_PRINTF(1, 2);
/* Clears the calling thread's message. */
void dfrt_clear_error(void);
/* Replaces the calling thread's message (used to move errors between threads). */
void dfrt_set_error_message(const char *message);

#define DFRT_TRY(expr)                                                                         \
    do {                                                                                       \
        dfrt_status dfrt_try_status_ = (expr);                                                 \
        if (dfrt_try_status_ != DFRT_OK) return dfrt_try_status_;                              \
    } while (0)

/* Allocation helpers: on failure they record DFRT_OUT_OF_MEMORY naming `what`. */
void *dfrt_malloc(size_t size, const char *what);
void *dfrt_calloc(size_t count, size_t size, const char *what);
char *dfrt_strdup(const char *s);
/* Large buffers (zero-filled when mapped; contents otherwise undefined); free with the same
 * size. */
void *dfrt_alloc_large(size_t size, const char *what);
void dfrt_free_large(void *p, size_t size);
char *dfrt_strndup(const char *s, size_t n);
/* Allocating sprintf; NULL (with the error recorded) on failure. */
char *dfrt_asprintf(const char *fmt, ...) DFRT_PRINTF(1, 2);
/* "dir/name" */
char *dfrt_path_join(const char *dir, const char *name);
const char *dfrt_basename(const char *path);
bool dfrt_str_ends_with(const char *s, const char *suffix);
bool dfrt_str_starts_with(const char *s, const char *prefix);

/* Overflow-checked arithmetic. */
static inline bool dfrt_mul_overflow_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline bool dfrt_add_overflow_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out);
}

static inline uint32_t dfrt_load_u32le(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Pseudo-random numbers: splitmix64 (to seed) and xoshiro256** (Blackman and Vigna). */
static inline uint64_t dfrt_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline uint64_t dfrt_rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t dfrt_xoshiro_next(uint64_t s[4]) {
    uint64_t result = dfrt_rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = dfrt_rotl64(s[3], 45);
    return result;
}

/* base with the process umask applied (the umask is read once, thread-safely). */
#include <sys/types.h>
mode_t dfrt_file_mode(mode_t base);
/* Opens path read-only after checking, before anything can block, that it is a regular file
 * (following symbolic links unless no_follow): a FIFO, device, directory or socket is refused
 * as "PATH: is a FIFO, not a regular file". out_st (optional) receives its fstat. */
struct stat;
dfrt_status dfrt_open_regular(const char *path, bool no_follow, int *out_fd, struct stat *out_st);
/* What a file mode is, in words: "a FIFO", "a directory", "a symbolic link"... */
const char *dfrt_file_kind(mode_t mode);
/* Reads a whole (small) regular file into a NUL-terminated buffer; a larger file than max_size
 * is refused as "PATH: too large". */
dfrt_status dfrt_read_file(const char *path, size_t max_size, char **out_data, size_t *out_len);
/* Copies a regular file (a symbolic link refused when no_follow), through a temporary name and
 * rename; the copy gets the source's permission bits (less the umask), never wider ones. */
dfrt_status dfrt_copy_file(const char *src, const char *dst, bool no_follow);
/* A file written under a temporary name beside its path and renamed into place by commit
 * (after fsync), so that an interrupted write never leaves a file that looks complete.
 * commit and abort both release it; on failure commit removes the temporary. */
typedef struct dfrt_atomic_file {
    int fd;
    char *tmp;
    const char *path;
    mode_t mode; /* given at commit, less the umask; dfrt_atomic_open sets 0666 */
} dfrt_atomic_file;
dfrt_status dfrt_atomic_open(const char *path, dfrt_atomic_file *f);
dfrt_status dfrt_atomic_write(dfrt_atomic_file *f, const void *data, uint64_t len);
dfrt_status dfrt_atomic_commit(dfrt_atomic_file *f);
void dfrt_atomic_abort(dfrt_atomic_file *f);
/* Writes data to path through a temporary name and rename (mode 0666, or mode, less the umask). */
dfrt_status dfrt_write_file_atomic(const char *path, const void *data, size_t len);
dfrt_status dfrt_write_file_atomic_mode(const char *path, const void *data, size_t len, mode_t mode);
/* The read/write permission bits of path (0666 when it cannot be read), for a derived file
 * that must not be more readable than its source. */
mode_t dfrt_source_mode(const char *path);
/* Removes a directory tree (best effort, for cleaning up our own temporaries). */
void dfrt_remove_tree(const char *path);
/* Lists the regular-file names of a directory (links to regular files included), sorted. */
dfrt_status dfrt_list_dir(const char *dir, char ***out_names, size_t *out_count);
/* Every entry of a directory but . and .., sorted by name, with what it is. */
typedef struct dfrt_dir_entry {
    char *name;
    mode_t lmode; /* the entry itself (S_ISLNK for a link) */
    mode_t mode;  /* what it leads to; 0 for a dangling link */
} dfrt_dir_entry;
dfrt_status dfrt_list_dir_entries(const char *dir, dfrt_dir_entry **out_entries, size_t *out_count);
void dfrt_free_dir_entries(dfrt_dir_entry *entries, size_t count);
/* The checks of an output directory that need no model, made before any work: not empty, not
 * ".", "..", a symbolic link, a non-empty directory, the input directory (when in_dir is given)
 * or inside it; its parent exists and is writable. */
dfrt_status dfrt_check_output_dir(const char *in_dir, const char *out_dir);
void dfrt_free_strings(char **strings, size_t count);
/* Sorts count strings by strcmp and frees the duplicates; returns how many distinct ones are
 * left at the front. */
size_t dfrt_sort_unique_strings(char **strings, size_t count);

/* Parses a JSON document of len bytes into *out (cJSON's tree; free with cJSON_Delete). The
 * whole text must be one JSON value (trailing bytes other than whitespace make it invalid, as
 * they do for Python's json and serde_json) and no object may have the same key twice (Python
 * keeps the last, cJSON the first). Errors name source: "SOURCE: not valid JSON (near line L,
 * column C)", "SOURCE: duplicate key \"k\" in a.b[2]", and DFRT_OUT_OF_MEMORY "SOURCE: out of
 * memory while parsing JSON (N MB)" when an allocation failed. */
struct cJSON;
dfrt_status dfrt_json_parse(const char *text, size_t len, const char *source, struct cJSON **out);
/* dfrt_json_parse without the duplicate-key check, and that check alone. */
dfrt_status dfrt_json_parse_unchecked(const char *text, size_t len, const char *source, struct cJSON **out);
dfrt_status dfrt_json_check_duplicates(const struct cJSON *root, const char *source);

/* Caps on what dfrt reads into memory (cJSON takes ~40x the text): the largest real files are a
 * few KB (config.json), a few hundred KB (an index), ~33 MB (Gemma 3's tokenizer.json). */
#define DFRT_MAX_CONFIG_BYTES ((size_t)1 << 20)
#define DFRT_MAX_INDEX_BYTES ((size_t)16 << 20)
#define DFRT_MAX_TOKENIZER_BYTES ((size_t)64 << 20)

/* Top-level key edits of a JSON object that keep the rest of the text as it is. */
dfrt_status dfrt_json_remove_key(const char *text, size_t len, const char *key, const char *source, char **out,
                                 size_t *out_len);
/* Appends "key": value_json as the last entry (value_json already formatted, nested lines
 * indented by 2). Fails if the key exists. */
dfrt_status dfrt_json_add_key(const char *text, size_t len, const char *key, const char *value_json,
                              const char *source, char **out, size_t *out_len);

/* A growable string; `failed` records an allocation failure (later appends do nothing). */
typedef struct dfrt_buf {
    char *p;
    size_t len, cap;
    bool failed;
} dfrt_buf;
void dfrt_buf_append(dfrt_buf *b, const char *s, size_t n);
void dfrt_buf_puts(dfrt_buf *b, const char *s);
void dfrt_buf_printf(dfrt_buf *b, const char *fmt, ...) DFRT_PRINTF(2, 3);
/* Appends s as a JSON string literal (escaped as serde_json and Python's json escape it). */
void dfrt_buf_json_string(dfrt_buf *b, const char *s);

/* Output directories are built in "<out>.dfrt-tmp-XXXXXX" and renamed into place. */
typedef struct dfrt_staging {
    char *final_path;
    char *tmp_path;
} dfrt_staging;
dfrt_status dfrt_staging_begin(const char *out_dir, dfrt_staging *out);
dfrt_status dfrt_staging_commit(dfrt_staging *s);
/* Removes an unfinished output's temporary directory; status is the failure that stopped it.
 * An I/O error's message gets "<output>: not written: " in front, so that it names the output
 * asked for and not only a temporary file. Returns status. */
dfrt_status dfrt_staging_abort(dfrt_staging *s, dfrt_status status);

/* mkdir -p: creates path and its missing parents; fine if it is a directory already. */
dfrt_status dfrt_make_dirs(const char *path);
/* DFRT_IO_ERROR naming dir, the GB needed and the GB free unless dir's file system has
 * `needed` bytes available; `purpose` says what for ("building the synthetic model x"). */
dfrt_status dfrt_require_free_space(const char *dir, uint64_t needed, const char *purpose);

/* Seconds on the monotonic clock (for durations and deadlines). */
double dfrt_now_seconds(void);

/* Number of online CPUs (at least 1). */
int dfrt_cpu_count(void);
/* Resolves a thread-count request: <= 0 means one per core. */
int dfrt_thread_count(int requested);

/* Runs fn(ctx, i) for i in [0, n) on up to n_threads threads (including the caller). Stops
 * handing out work after the first failure and returns it, with its message moved to the
 * calling thread. */
typedef dfrt_status (*dfrt_task_fn)(void *ctx, size_t index);
dfrt_status dfrt_parallel_for(size_t n, int n_threads, dfrt_task_fn fn, void *ctx);

/* Serialised progress reporting shared by worker threads. */
typedef struct dfrt_progress dfrt_progress;
dfrt_progress *dfrt_progress_create(dfrt_progress_fn fn, void *user, uint64_t total);
void dfrt_progress_add(dfrt_progress *p, uint64_t amount);
void dfrt_progress_free(dfrt_progress *p);

static inline bool dfrt_cancelled(const volatile int *cancel) { return cancel && *cancel; }

/* Frees each pointer given, NULL ones included: DFRT_FREE_ALL(t->names, t->ids, t). */
static inline void dfrt_free_each(void *const *p, size_t n) {
    for (size_t i = 0; i < n; i++) free(p[i]);
}
#define DFRT_FREE_ALL(...)                                                                     \
    dfrt_free_each((void *const[]){__VA_ARGS__}, sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))

#endif
