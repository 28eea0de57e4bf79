/* Chat formats: a conversation as each model family's chat template renders it, its messages
 * encoded as plain text between the format's special tokens. */
#include "model/model_internal.h"

/* A conversation in a chat format as parts: markers (special tokens, by their tokenizer.json
 * strings) and text (the format's own words and the messages). Consecutive texts form one
 * piece, as Hugging Face's tokenizers see the text between two special tokens. */
typedef struct chat_parts {
    int n, cap;
    struct chat_part {
        bool marker;
        const char *s;
    } *p;
    char **owned; /* texts the format made (trimmed messages), n_owned of them */
    int n_owned;
    bool failed;  /* out of memory while building */
} chat_parts;

static void chat_parts_free(chat_parts *c) {
    for (int i = 0; i < c->n_owned; i++) free(c->owned[i]);
    DFRT_FREE_ALL(c->owned, c->p);
    *c = (chat_parts){0};
}

static void part(chat_parts *c, bool is_marker, const char *s) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        struct chat_part *grown = realloc(c->p, (size_t)cap * sizeof *grown);
        if (!grown) {
            c->failed = true;
            return;
        }
        c->p = grown;
        c->cap = cap;
    }
    c->p[c->n].marker = is_marker;
    c->p[c->n++].s = s;
}

static void marker(chat_parts *c, const char *s) { part(c, true, s); }
static void text(chat_parts *c, const char *s) { part(c, false, s); }

/* s without the whitespace around it (Jinja's trim, on ASCII whitespace), owned by c. */
static const char *trimmed(chat_parts *c, const char *s) {
    size_t a = 0, b = strlen(s);
    while (a < b && strchr(" \t\n\r\v\f", s[a])) a++;
    while (b > a && strchr(" \t\n\r\v\f", s[b - 1])) b--;
    char **grown = realloc(c->owned, (size_t)(c->n_owned + 1) * sizeof *grown);
    char *t = dfrt_malloc(b - a + 1, "the chat prompt");
    if (grown) c->owned = grown;
    if (!grown || !t) {
        free(t);
        c->failed = true;
        return "";
    }
    memcpy(t, s + a, b - a);
    t[b - a] = '\0';
    c->owned[c->n_owned++] = t;
    return t;
}

#define DS_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>" /* DeepSeek-R1 distills: full-width bars */
#define DS_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

/* Turns of the form OPEN role [SEP] [sep_text] content END [after_end] (ChatML, Llama 3,
 * Phi-4), one per message, then the assistant's left open after its SEP. */
static void role_turns(chat_parts *c, const dfrt_chat_message *msgs, size_t n, const char *open, const char *sep,
                       const char *sep_text, const char *end, const char *after_end) {
    for (size_t i = 0; i <= n; i++) {
        marker(c, open);
        text(c, i < n ? msgs[i].role : "assistant");
        if (*sep) marker(c, sep);
        if (*sep_text) text(c, sep_text);
        if (i == n) break; /* the assistant's turn: open */
        text(c, msgs[i].content);
        marker(c, end);
        if (*after_end) text(c, after_end);
    }
}

/* The parts of the family's format, chosen from the tokenizer's special tokens. The
 * conversation (checked by the caller) may start with a system message. */
static dfrt_status chat_build(const dfrt_tokenizer *t, const dfrt_chat_message *msgs, size_t n, chat_parts *c) {
    *c = (chat_parts){0};
    const char *system = n && strcmp(msgs[0].role, "system") == 0 ? msgs[0].content : NULL;
    const dfrt_chat_message *rest = system ? msgs + 1 : msgs; /* the turns after a system message */
    size_t n_rest = system ? n - 1 : n;
    if (dfrt_tokenizer_find(t, "<start_of_turn>") >= 0) {
        /* Gemma 3: the system message leads the first turn; messages trimmed; the assistant is
         * "model"; BOS first */
        marker(c, "<bos>");
        for (size_t i = 0; i <= n_rest; i++) {
            marker(c, "<start_of_turn>");
            if (i == n_rest) {
                text(c, "model\n");
                break;
            }
            text(c, strcmp(rest[i].role, "assistant") == 0 ? "model\n" : "user\n");
            if (i == 0 && system) {
                text(c, system);
                text(c, "\n\n");
            }
            text(c, trimmed(c, rest[i].content));
            marker(c, "<end_of_turn>");
            text(c, "\n");
        }
        if (system && n_rest == 0) { /* only a system message: its own first turn, as the template */
            c->n = 1;
            marker(c, "<start_of_turn>");
            text(c, "user\n");
            text(c, system);
            text(c, "\n\n");
            marker(c, "<end_of_turn>");
            text(c, "\n");
            marker(c, "<start_of_turn>");
            text(c, "model\n");
        }
    } else if (dfrt_tokenizer_find(t, "<|im_sep|>") >= 0) { /* Phi-4: ChatML with <|im_sep|>, no newlines */
        role_turns(c, msgs, n, "<|im_start|>", "<|im_sep|>", "", "<|im_end|>", "");
    } else if (dfrt_tokenizer_find(t, DS_USER) >= 0) {
        if (system) text(c, system);
        for (size_t i = 0; i < n_rest; i++) {
            bool user = strcmp(rest[i].role, "assistant") != 0;
            marker(c, user ? DS_USER : DS_ASSISTANT);
            text(c, rest[i].content);
            if (!user) marker(c, DS_EOS);
        }
        marker(c, DS_ASSISTANT);
    } else if (dfrt_tokenizer_find(t, "<|im_start|>") >= 0) { /* Qwen: ChatML */
        role_turns(c, msgs, n, "<|im_start|>", "", "\n", "<|im_end|>", "\n");
    } else if (dfrt_tokenizer_find(t, "<|start_header_id|>") >= 0) { /* Llama 3 */
        marker(c, "<|begin_of_text|>");
        role_turns(c, msgs, n, "<|start_header_id|>", "<|end_header_id|>", "\n\n", "<|eot_id|>", "");
    } else if (dfrt_tokenizer_find(t, "[INST]") >= 0) { /* Mistral: the system message leads the first user's */
        marker(c, "<s>");
        bool first_user = true;
        for (size_t i = 0; i < n_rest; i++) {
            if (strcmp(rest[i].role, "assistant") == 0) {
                text(c, rest[i].content);
                marker(c, "</s>");
                continue;
            }
            marker(c, "[INST]");
            if (system && first_user) {
                text(c, system);
                text(c, "\n\n");
            }
            first_user = false;
            text(c, rest[i].content);
            marker(c, "[/INST]");
        }
    } else {
        return dfrt_fail(DFRT_UNSUPPORTED, "no chat format for this model (its tokenizer has none of ChatML's, Phi-4's, "
                                           "Gemma's, Llama 3's, DeepSeek's or Mistral's special tokens)");
    }
    if (c->failed) {
        chat_parts_free(c);
        return dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory building the chat prompt");
    }
    return DFRT_OK;
}

/* The roles dfrt's formats take: a system message first, if any, then user and assistant
 * messages; every message has text. */
static dfrt_status check_messages(const dfrt_chat_message *msgs, size_t n, const char *fn) {
    if (!msgs && n) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: NULL messages", fn);
    if (n == 0) return dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: the conversation has no message", fn);
    for (size_t i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (!r || !msgs[i].content) return dfrt_fail(DFRT_INVALID_ARGUMENT, "messages[%zu]: NULL role or content", i);
        if (strcmp(r, "system") == 0 && i > 0)
            return dfrt_fail(DFRT_INVALID_ARGUMENT, "messages[%zu]: a system message must come first", i);
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0)
            return dfrt_fail(DFRT_INVALID_ARGUMENT,
                             "messages[%zu]: role must be \"system\", \"user\" or \"assistant\"", i);
    }
    return DFRT_OK;
}

dfrt_status dfrt_chat_format(const dfrt_model *m, const char *user, char **out) {
    if (out) *out = NULL;
    if (!m || !user || !out) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_chat_format: NULL argument");
    if (!m->tokenizer) return dfrt_fail(DFRT_UNSUPPORTED, "the model has no tokenizer.json, so no chat format");
    chat_parts c;
    DFRT_TRY(chat_build(m->tokenizer, &(dfrt_chat_message){"user", user}, 1, &c));
    size_t len = 0;
    for (int i = 0; i < c.n; i++) len += strlen(c.p[i].s);
    char *text = dfrt_malloc(len + 1, "the chat prompt");
    if (!text) {
        chat_parts_free(&c);
        return DFRT_OUT_OF_MEMORY;
    }
    size_t at = 0;
    for (int i = 0; i < c.n; i++) {
        size_t n = strlen(c.p[i].s);
        memcpy(text + at, c.p[i].s, n);
        at += n;
    }
    text[at] = '\0';
    chat_parts_free(&c);
    *out = text;
    return DFRT_OK;
}

/* Appends n ids to a growable list; false when out of memory. */
static bool append_ids(int32_t **ids, size_t *n, size_t *cap, const int32_t *add, size_t n_add) {
    if (*n + n_add > *cap) {
        size_t c = DFRT_MAX(*cap * 2, *n + n_add + 16);
        int32_t *grown = realloc(*ids, c * sizeof *grown);
        if (!grown) return false;
        *ids = grown;
        *cap = c;
    }
    if (n_add) memcpy(*ids + *n, add, n_add * sizeof *add);
    *n += n_add;
    return true;
}

dfrt_status dfrt_chat_encode(const dfrt_tokenizer *t, const char *system, const char *user, int32_t **out_ids,
                             size_t *out_count) {
    if (out_ids) *out_ids = NULL;
    if (out_count) *out_count = 0;
    if (!t || !user || !out_ids || !out_count) return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_chat_encode: NULL argument");
    dfrt_chat_message msgs[2] = {{"system", system}, {"user", user}};
    bool sys = system && *system;
    return dfrt_chat_encode_messages(t, sys ? msgs : msgs + 1, sys ? 2 : 1, out_ids, out_count);
}

dfrt_status dfrt_chat_encode_messages(const dfrt_tokenizer *t, const dfrt_chat_message *msgs, size_t n_msgs,
                                      int32_t **out_ids, size_t *out_count) {
    if (out_ids) *out_ids = NULL;
    if (out_count) *out_count = 0;
    if (!t || !out_ids || !out_count)
        return dfrt_fail(DFRT_INVALID_ARGUMENT, "dfrt_chat_encode_messages: NULL argument");
    DFRT_TRY(check_messages(msgs, n_msgs, "dfrt_chat_encode_messages"));
    chat_parts c;
    DFRT_TRY(chat_build(t, msgs, n_msgs, &c));
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    char *piece = NULL;
    dfrt_status s = DFRT_OK;
    for (int i = 0; i < c.n && s == DFRT_OK; i++) {
        if (c.p[i].marker) {
            int32_t id = dfrt_tokenizer_find(t, c.p[i].s);
            if (id < 0) {
                s = dfrt_fail(DFRT_UNSUPPORTED, "the chat format needs the token \"%s\", which the tokenizer lacks",
                              c.p[i].s);
            } else if (!append_ids(&ids, &n, &cap, &id, 1)) {
                s = dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding the chat prompt");
            }
            continue;
        }
        /* the texts up to the next marker: one piece, encoded as plain text */
        size_t len = 0;
        int j = i;
        for (; j < c.n && !c.p[j].marker; j++) len += strlen(c.p[j].s);
        free(piece);
        if (!(piece = dfrt_malloc(len + 1, "the chat prompt"))) {
            s = DFRT_OUT_OF_MEMORY;
            break;
        }
        size_t at = 0;
        for (int k = i; k < j; k++) {
            size_t l = strlen(c.p[k].s);
            memcpy(piece + at, c.p[k].s, l);
            at += l;
        }
        int32_t *part;
        size_t n_part;
        if ((s = dfrt_tokenizer_encode_plain(t, piece, len, &part, &n_part)) != DFRT_OK) break;
        if (!append_ids(&ids, &n, &cap, part, n_part)) s = dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory encoding the chat prompt");
        free(part);
        i = j - 1;
    }
    free(piece);
    chat_parts_free(&c);
    if (s != DFRT_OK) {
        free(ids);
        return s;
    }
    *out_ids = ids;
    *out_count = n;
    return DFRT_OK;
}

