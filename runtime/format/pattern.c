/* pattern_dict matching with Python re.fullmatch semantics, through PCRE2. */
#include "base/internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Module names are short; these bound any pattern's work so none can hang the caller. */
#define MATCH_LIMIT 1000000u
#define DEPTH_LIMIT 10000u
#define HEAP_LIMIT_KIB 65536u
/* All matches of one matcher together: counted in PCRE2 callouts (one per pattern item
 * reached, with PCRE2_AUTO_CALLOUT), so that many slow patterns times many module names stay
 * bounded too. A real pattern_dict (1 to 3 patterns, a few hundred modules) uses well under
 * 100,000. */
#define TOTAL_STEPS 20000000u

struct dfrt_matcher {
    int n;
    char **sources; /* the patterns as written, for messages */
    pcre2_code **codes;
    pcre2_match_context *mctx;
    char *where;
    uint64_t *steps; /* callouts so far, over every match */
};

static int count_step(pcre2_callout_block *block, void *data) {
    DFRT_UNUSED(block);
    uint64_t *steps = data;
    return ++*steps > TOTAL_STEPS ? PCRE2_ERROR_CALLOUT : 0;
}

void dfrt_matcher_free(dfrt_matcher *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        pcre2_code_free(m->codes[i]);
        free(m->sources[i]);
    }
    pcre2_match_context_free(m->mctx);
    DFRT_FREE_ALL(m->codes, m->sources, m->where, m->steps, m);
}

dfrt_status dfrt_matcher_create(int n_patterns, const dfrt_df11_pattern *patterns, const char *source,
                                dfrt_matcher **out_matcher) {
    *out_matcher = NULL;
    dfrt_matcher *m = dfrt_calloc(1, sizeof *m, "a pattern matcher");
    if (!m) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    m->codes = dfrt_calloc((size_t)n_patterns, sizeof *m->codes, "compiled patterns");
    m->sources = dfrt_calloc((size_t)n_patterns, sizeof *m->sources, "patterns");
    m->mctx = pcre2_match_context_create(NULL);
    m->where = dfrt_strdup(source ? source : "pattern_dict");
    m->steps = dfrt_calloc(1, sizeof *m->steps, "a pattern matcher");
    if (!m->codes || !m->sources || !m->mctx || !m->where || !m->steps) {
        s = dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory compiling pattern_dict");
        goto fail;
    }
    pcre2_set_match_limit(m->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(m->mctx, DEPTH_LIMIT);
    pcre2_set_heap_limit(m->mctx, HEAP_LIMIT_KIB);
    pcre2_set_callout(m->mctx, count_step, m->steps);
    for (int i = 0; i < n_patterns; i++) {
        int err;
        PCRE2_SIZE off;
        /* fullmatch: anchored at the start and required to end at the end of the subject. */
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)patterns[i].regex, PCRE2_ZERO_TERMINATED,
                                         PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_AUTO_CALLOUT, &err, &off, NULL);
        if (!code) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            s = dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern \"%s\" is not a valid regular expression: %s (at offset %zu)",
                          m->where, patterns[i].regex, (const char *)msg, (size_t)off);
            goto fail;
        }
        m->codes[i] = code;
        if (!(m->sources[i] = dfrt_strdup(patterns[i].regex))) {
            s = DFRT_OUT_OF_MEMORY;
            m->n = i + 1;
            goto fail;
        }
        m->n = i + 1;
    }
    *out_matcher = m;
    return DFRT_OK;
fail:
    dfrt_matcher_free(m);
    return s;
}

dfrt_status dfrt_matcher_match(const dfrt_matcher *m, const char *name, int *out_index) {
    *out_index = -1;
    for (int i = 0; i < m->n; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(m->codes[i], NULL);
        if (!md) return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory matching pattern_dict");
        int rc = pcre2_match(m->codes[i], (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, m->mctx);
        pcre2_match_data_free(md);
        if (rc >= 0) {
            *out_index = i;
            return DFRT_OK;
        }
        if (rc == PCRE2_ERROR_NOMATCH) continue;
        if (rc == PCRE2_ERROR_CALLOUT)
            return dfrt_fail(DFRT_FORMAT_ERROR,
                             "%s: matching the pattern_dict against the module names needs more than %u steps in all "
                             "(stopped at pattern \"%s\" on \"%s\"); its patterns are too slow",
                             m->where, TOTAL_STEPS, m->sources[i], name);
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: pattern \"%s\" failed on \"%s\": %s", m->where, m->sources[i], name,
                         (const char *)msg);
    }
    return DFRT_OK;
}
