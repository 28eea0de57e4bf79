/* What the op test's two files share: test_ops.c (the generic loop, the table, buffers, bad
 * input, main) and test_ops_df11.c (DF11 decode and df11_matmul over units, corrupted units). */
#ifndef DFRT_TEST_OPS_H
#define DFRT_TEST_OPS_H

#include "op_checks.h"
#include "synth.h"

#define GUARD 256
#define GUARD_BYTE 0xA5

typedef struct target {
    char label[128];
    dfrt_backend *b;
    int passed, failed, skipped;
} target;

#define MAX_TARGETS 16
extern target targets[MAX_TARGETS], oracle; /* the backends under test; the CPU backend, the reference */
extern int n_targets;
extern target *cur;                  /* the target of the case being checked */
extern int case_failed, case_skipped;
extern const char *cur_what;         /* the case, for messages */

#define EXPECT(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s [%s] %s%s", case_failed ? "    " : "FAIL", cur->label, cur_what ? cur_what : "", \
                    cur_what ? ": " : ""); \
            fprintf(stderr, __VA_ARGS__); \
            fprintf(stderr, "\n"); \
            case_failed = 1; \
        } \
    } while (0)
#define EXPECT_OK(expr, ...) \
    do { \
        dfrt_status s_ = (expr); \
        if (s_ != DFRT_OK) { \
            EXPECT(0, __VA_ARGS__); \
            fprintf(stderr, "     %s: %s\n", dfrt_status_string(s_), dfrt_last_error()); \
        } \
    } while (0)

/* Whether the command line asked for this group of cases (all when it named none). */
bool group(const char *name);
/* A case's bookkeeping on target t: begin, then end counts it passed, failed or skipped. */
void begin_case(target *t);
void end_case(void);
/* One case on every target (test_ops.c). */
void run_case(const op_case *c);

/* test_ops_df11.c: every shipped and synthetic unit through df11_decode and df11_matmul; the
 * corrupted-unit mutants. */
void unit_group(synth_case *cases, int n_cases);
void mutated_group(void);

#endif
