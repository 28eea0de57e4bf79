/* Error messages and warnings: text from files is escaped before it can reach a terminal. */
#include "test.h"

static char warned[512];
static int n_warnings;

static void on_warning(void *user, const char *message) {
    (void)user;
    snprintf(warned, sizeof warned, "%s", message);
    n_warnings++;
}

static void test_escape(void) {
    char out[64];
    CHECK(dfrt_escape(out, sizeof out, "plain name.weight") == 17 && strcmp(out, "plain name.weight") == 0);
    CHECK(dfrt_escape(out, sizeof out, "a\x1b[2Jb\x07") == 13 && strcmp(out, "a\\x1B[2Jb\\x07") == 0);
    CHECK(dfrt_escape(out, sizeof out, "tab\tnl\ndel\x7f") == 20 && strcmp(out, "tab\\x09nl\\x0Adel\\x7F") == 0);
    /* UTF-8 is kept; bytes outside it, C1 controls (U+009B is CSI) and bidi overrides are not */
    CHECK(dfrt_escape(out, sizeof out, "caf\xc3\xa9 \xe4\xb8\xad") == 9 && strcmp(out, "caf\xc3\xa9 \xe4\xb8\xad") == 0);
    dfrt_escape(out, sizeof out, "x\xff\xc3(y\xc2\x9b[1m");
    CHECK(strcmp(out, "x\\xFF\\xC3(y\\u{009B}[1m") == 0);
    dfrt_escape(out, sizeof out, "evil\xe2\x80\xaetxt.exe");
    CHECK(strcmp(out, "evil\\u{202E}txt.exe") == 0);
    dfrt_escape(out, sizeof out, "\xed\xa0\x80"); /* a UTF-16 surrogate is not UTF-8 */
    CHECK(strcmp(out, "\\xED\\xA0\\x80") == 0);
    /* snprintf's contract: the needed length, and a cut only between whole pieces */
    char small[6];
    CHECK(dfrt_escape(small, sizeof small, "ab\x1b\x1b") == 10 && strcmp(small, "ab") == 0);
    CHECK(dfrt_escape(NULL, 0, "\x01") == 4);
    CHECK(dfrt_escape(small, sizeof small, NULL) == 0 && small[0] == '\0');
}

static void test_messages_escaped(void) {
    /* a safetensors file whose tensor name holds ESC and BEL: the message names it escaped */
    const char header[] = "{\"w\\u001b]0;pwned\\u0007\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    uint64_t n = sizeof header - 1;
    unsigned char file[256];
    memcpy(file, &n, 8);
    memcpy(file + 8, header, n);
    memset(file + 8 + n, 0, 8);
    const char *path = test_path("escape.safetensors");
    test_write_file(path, file, 8 + n + 8);
    dfrt_st_file *f = NULL;
    CHECK_ERROR(dfrt_st_file_open(path, &f), DFRT_FORMAT_ERROR, "w\\x1B]0;pwned\\x07");
    CHECK(strchr(dfrt_last_error(), 0x1b) == NULL && strchr(dfrt_last_error(), 0x07) == NULL);
    dfrt_st_file_close(f);
}

static void test_warnings(void) {
    /* a config whose pattern_dict... the handler receives escaped text; NULL restores stderr */
    dfrt_set_warning_handler(on_warning, NULL);
    dfrt_config *c = NULL;
    /* no warning from a plain parse */
    CHECK_OK(dfrt_config_parse("{}", 2, "config.json", &c));
    dfrt_config_free(c);
    CHECK(n_warnings == 0);
    dfrt_set_warning_handler(NULL, NULL);
}

int main(void) {
    RUN(test_escape);
    RUN(test_messages_escaped);
    RUN(test_warnings);
    test_cleanup();
    return test_finish();
}
