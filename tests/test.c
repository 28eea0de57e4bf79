#include "test.h"

#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

int test_passed, test_failed;
const char *test_current = "";

void test_check(int ok, const char *file, int line, const char *what) {
    if (ok) {
        test_passed++;
        return;
    }
    test_failed++;
    fprintf(stderr, "FAIL %s (%s:%d): %s\n", test_current, file, line, what);
}

void test_check_error(dfrt_status got, dfrt_status expected, const char *file, int line, const char *expr, ...) {
    const char *msg = dfrt_last_error();
    int ok = got == expected;
    va_list ap;
    va_start(ap, expr);
    const char *missing = NULL;
    for (const char *frag = va_arg(ap, const char *); frag; frag = va_arg(ap, const char *))
        if (!strstr(msg, frag) && !missing) missing = frag;
    va_end(ap);
    if (ok && !missing) {
        test_passed++;
        return;
    }
    test_failed++;
    fprintf(stderr, "FAIL %s (%s:%d): %s\n  status: got %s, expected %s\n  message: %s\n", test_current, file, line,
            expr, dfrt_status_string(got), dfrt_status_string(expected), msg);
    if (missing) fprintf(stderr, "  missing fragment: \"%s\"\n", missing);
}

static char tmpdir[256];

const char *test_tmpdir(void) {
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/dfrt-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return tmpdir;
}

void test_cleanup(void) {
    if (!tmpdir[0]) return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    tmpdir[0] = '\0';
}

const char *test_path(const char *name) {
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", test_tmpdir(), name);
    return b;
}

void test_sh(const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd) {
        fprintf(stderr, "test_sh: command too long: %.80s...\n", cmd);
        exit(2);
    }
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(2);
    }
}

void test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

int test_finish(void) {
    test_cleanup();
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

uint64_t test_rand(test_rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double test_uniform(test_rng *r) { return (double)(test_rand(r) >> 11) * 0x1.0p-53; }

double test_normal(test_rng *r) {
    double u = test_uniform(r), v = test_uniform(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

uint16_t test_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7FFF + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

float test_float(uint16_t b) {
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

const char *test_model_dir(void) {
    const char *e = getenv("DFRT_TEST_MODEL_DIR");
    return e && *e ? e : DFRT_MODEL_DIR;
}

const char *test_data_dir(void) {
    const char *e = getenv("DFRT_TEST_DATA");
    return e && *e ? e : DFRT_TEST_DATA;
}

char *test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *p = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n] = '\0';
        if (len) *len = (size_t)n;
    }
    return p;
}

int test_n_warnings;
char test_last_warning[2048];
void test_collect_warning(void *user, const char *message) {
    (void)user;
    test_n_warnings++;
    snprintf(test_last_warning, sizeof test_last_warning, "%s", message);
}
