/* safetensors: reader validation (each malformed file refused with its own message), writer
 * layout and round trip, directories. */
#include "test.h"

#include <sys/stat.h>
#include <time.h>

/* Writes an 8-byte length, the header text, then data_len bytes of data. */
static const char *write_st(const char *name, const char *header, size_t data_len) {
    size_t hl = strlen(header);
    size_t total = 8 + hl + data_len;
    uint8_t *buf = calloc(1, total);
    uint64_t len = hl;
    memcpy(buf, &len, 8);
    memcpy(buf + 8, header, hl);
    for (size_t i = 0; i < data_len; i++) buf[8 + hl + i] = (uint8_t)i;
    const char *path = test_path(name);
    test_write_file(path, buf, total);
    free(buf);
    return path;
}

static dfrt_status open_close(const char *path) {
    dfrt_st_file *f;
    dfrt_status s = dfrt_st_file_open(path, &f);
    dfrt_st_file_close(f);
    return s;
}

static void test_reader_valid(void) {
    const char *p = write_st("ok.safetensors",
                             "{\"__metadata__\":{\"format\":\"pt\"},"
                             "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[4,16]},"
                             "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                             "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[4,4]},"
                             "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]}}   ",
                             20);
    dfrt_st_file *f;
    CHECK_OK(dfrt_st_file_open(p, &f));
    if (!f) return;
    CHECK(dfrt_st_file_count(f) == 4);
    CHECK(strcmp(dfrt_st_file_tensor(f, 0)->name, "a") == 0); /* by data offset */
    const dfrt_tensor *b = dfrt_st_file_find(f, "b");
    CHECK(b && b->dtype == DFRT_DTYPE_BF16 && b->n_dims == 2 && b->shape[0] == 2 && b->shape[1] == 3);
    CHECK(b && b->n_elements == 6 && b->n_bytes == 12 && ((const uint8_t *)b->data)[0] == 4);
    const dfrt_tensor *s = dfrt_st_file_find(f, "s");
    CHECK(s && s->n_dims == 0 && s->n_elements == 1 && s->n_bytes == 4);
    CHECK(dfrt_st_file_find(f, "e")->n_bytes == 0);
    CHECK(dfrt_st_file_find(f, "zz") == NULL);
    CHECK(dfrt_st_file_metadata(f, "format") && strcmp(dfrt_st_file_metadata(f, "format"), "pt") == 0);
    CHECK(dfrt_st_file_metadata(f, "other") == NULL);
    dfrt_st_file_close(f);
    dfrt_st_file_close(NULL);
}

static void test_reader_errors(void) {
    /* truncated file */
    test_write_file(test_path("short.safetensors"), "\x05\0\0\0\0", 5);
    CHECK_ERROR(open_close(test_path("short.safetensors")), DFRT_FORMAT_ERROR, "short.safetensors",
                "truncated: 5 bytes");
    /* header length past the end */
    uint8_t buf[64] = {0};
    uint64_t len = 1000;
    memcpy(buf, &len, 8);
    memcpy(buf + 8, "{}", 2);
    test_write_file(test_path("past.safetensors"), buf, 10);
    CHECK_ERROR(open_close(test_path("past.safetensors")), DFRT_FORMAT_ERROR,
                "past.safetensors: not a safetensors file: the 8-byte header length is larger than the file (10 bytes)");
    len = (uint64_t)1 << 40;
    memcpy(buf, &len, 8);
    test_write_file(test_path("huge.safetensors"), buf, 10);
    CHECK_ERROR(open_close(test_path("huge.safetensors")), DFRT_FORMAT_ERROR,
                "huge.safetensors: not a safetensors file: the 8-byte header length is larger than the file");
    /* malformed JSON */
    CHECK_ERROR(open_close(write_st("bad.safetensors", "{\"a\": {\"dtype\": \"U8\",", 0)), DFRT_FORMAT_ERROR,
                "bad.safetensors: header: not valid JSON (near line 1, column 21)");
    CHECK_ERROR(open_close(write_st("arr.safetensors", "[1,2]", 0)), DFRT_FORMAT_ERROR,
                "arr.safetensors: not a safetensors file: the header does not start with '{'");
    CHECK_ERROR(open_close(write_st("trail.safetensors", "{} x", 0)), DFRT_FORMAT_ERROR,
                "trail.safetensors: header: not valid JSON: more after the value (line 1, column 4)");
    /* entries */
    CHECK_ERROR(open_close(write_st("dtype.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1)),
                DFRT_UNSUPPORTED, "tensor w: unknown dtype \"Q4\"");
    CHECK_ERROR(open_close(write_st("nodtype.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1)),
                DFRT_FORMAT_ERROR, "tensor w: missing or non-string \"dtype\"");
    CHECK_ERROR(open_close(write_st("shape.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,1]}}", 1)),
                DFRT_FORMAT_ERROR, "tensor w: shape[0] is not a non-negative integer");
    CHECK_ERROR(open_close(write_st("dims.safetensors",
                                    "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1)),
                DFRT_UNSUPPORTED, "9 dimensions");
    CHECK_ERROR(open_close(write_st("range.safetensors", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", 6)),
                DFRT_FORMAT_ERROR, "tensor w: data_offsets [0, 8] run past the end of the data (6 bytes)");
    CHECK_ERROR(open_close(write_st("size.safetensors", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,6]}}", 8)),
                DFRT_FORMAT_ERROR, "tensor w: data_offsets span 6 bytes, but BF16 shape needs 8");
    CHECK_ERROR(open_close(write_st("rev.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,2]}}", 8)),
                DFRT_FORMAT_ERROR, "end before they begin");
    CHECK_ERROR(open_close(write_st("offs.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0]}}", 8)),
                DFRT_FORMAT_ERROR, "must be an array of two integers");
    CHECK_ERROR(open_close(write_st("overlap.safetensors",
                                    "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                                    "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}",
                                    8)),
                DFRT_FORMAT_ERROR, "tensors a and b overlap");
    /* an empty tensor in between must not hide an overlap */
    CHECK_ERROR(open_close(write_st("overlap2.safetensors",
                                    "{\"a\":{\"dtype\":\"U8\",\"shape\":[6],\"data_offsets\":[0,6]},"
                                    "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[3,3]},"
                                    "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                                    8)),
                DFRT_FORMAT_ERROR, "tensors a and b overlap");
    CHECK_ERROR(open_close(write_st("dup.safetensors",
                                    "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                    "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                                    2)),
                DFRT_FORMAT_ERROR, "dup.safetensors: duplicate tensor name a in the header");
    CHECK_ERROR(open_close(write_st("meta.safetensors", "{\"__metadata__\":{\"x\":1}}", 0)), DFRT_FORMAT_ERROR,
                "__metadata__ entry \"x\" is not a string");
    CHECK_ERROR(open_close(write_st("bigshape.safetensors",
                                    "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8)),
                DFRT_FORMAT_ERROR, "shape is too large");
    CHECK_ERROR(open_close(test_path("missing.safetensors")), DFRT_IO_ERROR, "missing.safetensors: cannot open");
    CHECK_ERROR(open_close(test_tmpdir()), DFRT_IO_ERROR, "not a regular file");
}

static void test_writer(void) {
    const char *p = test_path("w.safetensors");
    dfrt_st_writer *w;
    CHECK_OK(dfrt_st_writer_create(p, &w));
    uint8_t u8[3] = {1, 2, 3};
    uint16_t bf[4] = {0x3f80, 0x4000, 0xbf80, 0};
    int64_t i64[2] = {-1, 7};
    int64_t s3 = 3, s4[2] = {2, 2}, s2 = 2, s0 = 0;
    CHECK_OK(dfrt_st_writer_set_metadata(w, "format", "pt"));
    CHECK_OK(dfrt_st_writer_add(w, "z.u8", DFRT_DTYPE_U8, 1, &s3, u8));
    CHECK_OK(dfrt_st_writer_add(w, "b.bf16", DFRT_DTYPE_BF16, 2, s4, bf));
    CHECK_OK(dfrt_st_writer_add(w, "a.i64", DFRT_DTYPE_I64, 1, &s2, i64));
    CHECK_OK(dfrt_st_writer_add(w, "e.empty", DFRT_DTYPE_I64, 1, &s0, NULL));
    CHECK_ERROR(dfrt_st_writer_add(w, "a.i64", DFRT_DTYPE_I64, 1, &s2, i64), DFRT_INVALID_ARGUMENT, "added twice");
    CHECK_ERROR(dfrt_st_writer_add(w, "nodata", DFRT_DTYPE_U8, 1, &s3, NULL), DFRT_INVALID_ARGUMENT, "no data");
    CHECK_OK(dfrt_st_writer_finish(w));
    /* The layout of the Python package: dtype size descending, then name; spaces to 8 bytes. */
    FILE *f = fopen(p, "rb");
    char raw[512] = {0};
    size_t got = fread(raw, 1, sizeof raw, f);
    fclose(f);
    uint64_t hl;
    memcpy(&hl, raw, 8);
    const char *want = "{\"__metadata__\":{\"format\":\"pt\"},\"a.i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                       "\"e.empty\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[16,16]},"
                       "\"b.bf16\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[16,24]},"
                       "\"z.u8\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[24,27]}}";
    CHECK(hl % 8 == 0 && hl >= strlen(want) && got == 8 + hl + 27);
    CHECK(strncmp(raw + 8, want, strlen(want)) == 0);
    for (size_t i = 8 + strlen(want); i < 8 + hl; i++) CHECK(raw[i] == ' ');
    dfrt_st_file *r;
    CHECK_OK(dfrt_st_file_open(p, &r));
    if (r) {
        const dfrt_tensor *t = dfrt_st_file_find(r, "b.bf16");
        CHECK(t && memcmp(t->data, bf, 8) == 0);
        dfrt_st_file_close(r);
    }
    /* No temporary left behind; a failed finish leaves nothing at all. */
    CHECK_OK(dfrt_st_writer_create(test_path("nodir/x.safetensors"), &w));
    CHECK_OK(dfrt_st_writer_add(w, "a", DFRT_DTYPE_U8, 1, &s3, u8));
    CHECK_ERROR(dfrt_st_writer_finish(w), DFRT_IO_ERROR, "nodir/x.safetensors: cannot create");
    dfrt_st_writer_abort(NULL);
}

static void test_directories(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s", test_path("d1"));
    CHECK_ERROR(dfrt_tensor_set_open(dir, &(dfrt_tensor_set *){0}), DFRT_IO_ERROR, "d1: cannot read directory");
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        CHECK(system(cmd) == 0);
    }
    dfrt_tensor_set *ts = NULL;
    CHECK_ERROR(dfrt_tensor_set_open(dir, &ts), DFRT_FORMAT_ERROR, "no *.safetensors files");
    const char *hdr1 = "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    const char *hdr2 = "{\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    write_st("d1/a.safetensors", hdr1, 2);
    write_st("d1/b.safetensors", hdr2, 2);
    CHECK_OK(dfrt_tensor_set_open(dir, &ts));
    if (ts) {
        CHECK(dfrt_tensor_set_count(ts) == 2 && dfrt_tensor_set_file_count(ts) == 2);
        CHECK(dfrt_tensor_set_find(ts, "y") && !dfrt_tensor_set_find(ts, "z"));
        dfrt_tensor_set_close(ts);
    }
    /* an index that names a shard that is not there */
    const char *index = "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": \"b.safetensors\", \"w\": \"c.safetensors\"}}";
    test_write_file(test_path("d1/model.safetensors.index.json"), index, strlen(index));
    CHECK_ERROR(dfrt_tensor_set_open(dir, &ts), DFRT_FORMAT_ERROR, "shard c.safetensors is missing",
                "puts tensor w in it");
    index = "{\"weight_map\": {\"x\": \"b.safetensors\", \"y\": \"a.safetensors\"}}";
    test_write_file(test_path("d1/model.safetensors.index.json"), index, strlen(index));
    CHECK_ERROR(dfrt_tensor_set_open(dir, &ts), DFRT_FORMAT_ERROR, "tensor x is listed in b.safetensors but found in a.safetensors");
    index = "{\"weight_map\": {\"x\": \"b.safetensors\"}}";
    test_write_file(test_path("d1/model.safetensors.index.json"), index, strlen(index));
    CHECK_ERROR(dfrt_tensor_set_open(dir, &ts), DFRT_FORMAT_ERROR, "tensor x is listed in the index but not in b.safetensors");
    test_write_file(test_path("d1/model.safetensors.index.json"), "[]", 2);
    CHECK_ERROR(dfrt_tensor_set_open(dir, &ts), DFRT_FORMAT_ERROR, "weight_map");
    remove(test_path("d1/model.safetensors.index.json"));
    /* the same tensor in two files */
    write_st("d1/c.safetensors", hdr1, 2);
    CHECK_ERROR(dfrt_tensor_set_open(dir, &ts), DFRT_FORMAT_ERROR, "d1: duplicate tensor name x: in both a.safetensors and c.safetensors");
    /* a bad file names itself */
    write_st("d1/c.safetensors", "{", 0);
    CHECK_ERROR(dfrt_tensor_set_open(dir, &ts), DFRT_FORMAT_ERROR, "c.safetensors: header: not valid JSON");
}

/* Issue 11: files that are not regular, a stray shard beside an index, duplicate keys, many
 * tensors. */
static void test_hostile_files(void) {
    /* a FIFO is refused without opening it for a blocking read; a directory is named */
    const char *fifo = test_path("fifo.safetensors");
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK_ERROR(open_close(fifo), DFRT_IO_ERROR, "fifo.safetensors: is a FIFO, not a regular file");
    const char *hdr = "{\"x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}";
    test_sh("mkdir -p %s %s/sub.safetensors", test_path("h1"), test_path("h1"));
    write_st("h1/a.safetensors", hdr, 2);
    dfrt_tensor_set *ts = NULL;
    CHECK_ERROR(dfrt_tensor_set_open(test_path("h1"), &ts), DFRT_IO_ERROR,
                "h1/sub.safetensors: is a directory, not a regular file");
    test_sh("rmdir %s/sub.safetensors && mkfifo %s/sub.safetensors", test_path("h1"), test_path("h1"));
    CHECK_ERROR(dfrt_tensor_set_open(test_path("h1"), &ts), DFRT_IO_ERROR,
                "h1/sub.safetensors: is a FIFO, not a regular file");
    test_sh("rm %s/sub.safetensors", test_path("h1"));
    /* with an index, only its shards are weights: another file (consolidated.safetensors) is
     * not read, and a warning names it */
    write_st("h1/consolidated.safetensors", "{\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    const char *index = "{\"weight_map\": {\"x\": \"a.safetensors\"}}";
    test_write_file(test_path("h1/model.safetensors.index.json"), index, strlen(index));
    dfrt_set_warning_handler(test_collect_warning, NULL);
    test_n_warnings = 0;
    CHECK_OK(dfrt_tensor_set_open(test_path("h1"), &ts));
    dfrt_set_warning_handler(NULL, NULL);
    CHECK(test_n_warnings == 1 &&
          strstr(test_last_warning, "consolidated.safetensors: not listed in model.safetensors.index.json"));
    if (ts) {
        CHECK(dfrt_tensor_set_file_count(ts) == 1 && dfrt_tensor_set_find(ts, "x") && !dfrt_tensor_set_find(ts, "y"));
        dfrt_tensor_set_close(ts);
    }
    /* an index that is a FIFO, or names a path outside the directory */
    test_sh("rm %s/model.safetensors.index.json && mkfifo %s/model.safetensors.index.json", test_path("h1"),
            test_path("h1"));
    CHECK_ERROR(dfrt_tensor_set_open(test_path("h1"), &ts), DFRT_IO_ERROR,
                "model.safetensors.index.json: is a FIFO, not a regular file");
    test_sh("rm %s/model.safetensors.index.json", test_path("h1"));
    index = "{\"weight_map\": {\"x\": \"../a.safetensors\"}}";
    test_write_file(test_path("h1/model.safetensors.index.json"), index, strlen(index));
    CHECK_ERROR(dfrt_tensor_set_open(test_path("h1"), &ts), DFRT_FORMAT_ERROR,
                "weight_map entry \"x\" is not the name of a file in the directory");
    index = "{\"weight_map\": {\"x\": \"a.safetensors\", \"x\": \"consolidated.safetensors\"}}";
    test_write_file(test_path("h1/model.safetensors.index.json"), index, strlen(index));
    CHECK_ERROR(dfrt_tensor_set_open(test_path("h1"), &ts), DFRT_FORMAT_ERROR,
                "model.safetensors.index.json: duplicate key \"x\" in weight_map");
    /* a key twice inside a tensor entry */
    CHECK_ERROR(open_close(write_st("dupfield.safetensors",
                                    "{\"w\":{\"dtype\":\"U8\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1)),
                DFRT_FORMAT_ERROR, "dupfield.safetensors: header: duplicate key \"dtype\" in w");
    /* an overlap of two names given twice is a duplicate name, not an overlap */
    CHECK_ERROR(open_close(write_st("dupsame.safetensors",
                                    "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                                    "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1)),
                DFRT_FORMAT_ERROR, "duplicate tensor name a");
}

/* 200,000 empty tensors (a 14 MB header): parsed and indexed in well under a second (the
 * bound here is generous, for sanitizer builds). */
static void test_many_tensors(void) {
    enum { N = 200000 };
    size_t cap = (size_t)N * 96 + 16, len = 0;
    char *h = malloc(cap);
    h[len++] = '{';
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(h + len, cap - len,
                                "%s\"model.layers.%d.encoded_exponent\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}",
                                i ? "," : "", i);
    h[len++] = '}';
    h[len] = '\0';
    const char *p = write_st("many.safetensors", h, 0);
    free(h);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    dfrt_st_file *f = NULL;
    CHECK_OK(dfrt_st_file_open(p, &f));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(seconds < 10);
    if (f) {
        CHECK(dfrt_st_file_count(f) == N && dfrt_st_file_find(f, "model.layers.199999.encoded_exponent"));
        dfrt_st_file_close(f);
    }
}

int main(void) {
    RUN(test_reader_valid);
    RUN(test_reader_errors);
    RUN(test_writer);
    RUN(test_directories);
    RUN(test_hostile_files);
    RUN(test_many_tensors);
    return test_finish();
}
