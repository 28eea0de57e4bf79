/* A minimal test harness: checks count, failures print where and why, and every test program
 * ends with "N passed, N failed". */
#ifndef DFRT_TEST_H
#define DFRT_TEST_H

#include "dfrt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int test_passed, test_failed;
extern const char *test_current;

void test_check(int ok, const char *file, int line, const char *what);
/* Checks that status is expected and that dfrt_last_error() contains every fragment given
 * (NULL-terminated list). */
void test_check_error(dfrt_status got, dfrt_status expected, const char *file, int line, const char *expr, ...);
int test_finish(void);

#define CHECK(cond) test_check(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_OK(expr) test_check_error((expr), DFRT_OK, __FILE__, __LINE__, #expr, (const char *)NULL)
/* CHECK_ERROR(call, DFRT_FORMAT_ERROR, "fragment", ...) */
#define CHECK_ERROR(expr, status, ...) \
    test_check_error((expr), (status), __FILE__, __LINE__, #expr, __VA_ARGS__, (const char *)NULL)
#define RUN(fn) \
    do { \
        test_current = #fn; \
        fn(); \
    } while (0)

/* The shipped model and test data: compiled-in paths, overridden by DFRT_TEST_MODEL_DIR and
 * DFRT_TEST_DATA (for running a build from another checkout, e.g. on a GPU machine). */
const char *test_model_dir(void);
const char *test_data_dir(void);

/* A fresh temporary directory (removed by test_cleanup). */
const char *test_tmpdir(void);
void test_cleanup(void);
/* "tmpdir/name", in a static rotating buffer. */
const char *test_path(const char *name);
void test_write_file(const char *path, const void *data, size_t len);
/* A whole file, NUL-terminated (malloc'ed; *len may be NULL); NULL when unreadable. */
char *test_read_file(const char *path, size_t *len);
/* Runs a shell command (printf-style); a failure ends the test program (exit 2). */
void test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Deterministic random numbers. */
typedef struct test_rng {
    uint64_t s;
} test_rng;
uint64_t test_rand(test_rng *r);
double test_uniform(test_rng *r); /* [0, 1) */
double test_normal(test_rng *r);
uint16_t test_bf16(float f); /* round to nearest even */
float test_float(uint16_t bf16);

/* Warnings the library gives, collected: install test_collect_warning with
 * dfrt_set_warning_handler; it counts them and keeps the last. */
extern int test_n_warnings;
extern char test_last_warning[2048];
void test_collect_warning(void *user, const char *message);

#endif
