/* Allocation, string, file and threading helpers. */
#include "base/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

void *dfrt_malloc(size_t size, const char *what) {
    void *p = malloc(size ? size : 1);
    if (!p) dfrt_fail(DFRT_OUT_OF_MEMORY, "out of host memory allocating %zu bytes for %s", size, what);
    return p;
}

void *dfrt_calloc(size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        dfrt_fail(DFRT_OUT_OF_MEMORY, "out of host memory allocating %zu x %zu bytes for %s", count,
                  size, what);
    return p;
}

char *dfrt_strndup(const char *s, size_t n) {
    char *p = dfrt_malloc(n + 1, "a string");
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *dfrt_strdup(const char *s) { return dfrt_strndup(s, strlen(s)); }

char *dfrt_asprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) {
        dfrt_fail(DFRT_INVALID_ARGUMENT, "bad format string");
        return NULL;
    }
    char *p = dfrt_malloc((size_t)len + 1, "a string");
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return p;
}

char *dfrt_path_join(const char *dir, const char *name) {
    size_t n = strlen(dir);
    if (n > 0 && dir[n - 1] == '/') return dfrt_asprintf("%s%s", dir, name);
    return dfrt_asprintf("%s/%s", dir, name);
}

const char *dfrt_basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool dfrt_str_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool dfrt_str_starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *dfrt_file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "not a regular file";
}

static dfrt_status refuse_kind(const char *path, mode_t mode) {
    const char *kind = dfrt_file_kind(mode);
    if (strcmp(kind, "not a regular file") == 0) return dfrt_fail(DFRT_IO_ERROR, "%s: not a regular file", path);
    return dfrt_fail(DFRT_IO_ERROR, "%s: is %s, not a regular file", path, kind);
}

dfrt_status dfrt_open_regular(const char *path, bool no_follow, int *out_fd, struct stat *out_st) {
    *out_fd = -1;
    struct stat st;
    /* First without opening: opening a device can have effects of its own, and a FIFO blocks. */
    if ((no_follow ? lstat(path, &st) : stat(path, &st)) != 0)
        return dfrt_fail(DFRT_IO_ERROR, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return refuse_kind(path, st.st_mode);
    /* Then open without blocking, in case it was replaced in between, and check what was opened. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (no_follow ? O_NOFOLLOW : 0));
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP && no_follow) return dfrt_fail(DFRT_IO_ERROR, "%s: is a symbolic link, not a regular file", path);
        return dfrt_fail(DFRT_IO_ERROR, "%s: cannot open: %s", path, strerror(e));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return dfrt_fail(DFRT_IO_ERROR, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return refuse_kind(path, st.st_mode);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return dfrt_fail(DFRT_IO_ERROR, "%s: cannot open: %s", path, strerror(e));
    }
    *out_fd = fd;
    if (out_st) *out_st = st;
    return DFRT_OK;
}

/* "16 MiB" for whole mebibytes, else bytes. */
static void format_cap(char *out, size_t size, size_t cap) {
    if (cap >= ((size_t)1 << 20) && cap % ((size_t)1 << 20) == 0) snprintf(out, size, "%zu MiB", cap >> 20);
    else snprintf(out, size, "%zu bytes", cap);
}

static dfrt_status read_exact(int fd, void *data, size_t len, const char *path) {
    uint8_t *p = data;
    while (len > 0) {
        ssize_t r = read(fd, p, len > ((size_t)1 << 30) ? ((size_t)1 << 30) : len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return dfrt_fail(DFRT_IO_ERROR, "%s: read failed: %s", path, strerror(errno));
        if (r == 0) return dfrt_fail(DFRT_IO_ERROR, "%s: read failed: the file became shorter while it was read", path);
        p += r;
        len -= (size_t)r;
    }
    return DFRT_OK;
}

dfrt_status dfrt_read_file(const char *path, size_t max_size, char **out_data, size_t *out_len) {
    *out_data = NULL;
    if (out_len) *out_len = 0;
    int fd;
    struct stat st;
    DFRT_TRY(dfrt_open_regular(path, false, &fd, &st));
    if ((uint64_t)st.st_size > max_size) {
        close(fd);
        char cap[32];
        format_cap(cap, sizeof cap, max_size);
        return dfrt_fail(DFRT_FORMAT_ERROR, "%s: too large: %lld bytes, more than the %s dfrt reads for this file",
                         path, (long long)st.st_size, cap);
    }
    size_t len = (size_t)st.st_size;
    char *data = dfrt_malloc(len + 1, path);
    if (!data) {
        close(fd);
        return DFRT_OUT_OF_MEMORY;
    }
    dfrt_status s = read_exact(fd, data, len, path);
    close(fd);
    if (s != DFRT_OK) {
        free(data);
        return s;
    }
    data[len] = '\0';
    *out_data = data;
    if (out_len) *out_len = len;
    return DFRT_OK;
}

static mode_t process_umask;
static void read_umask(void) {
    process_umask = umask(0);
    umask(process_umask);
}

mode_t dfrt_file_mode(mode_t base) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_umask);
    return base & ~process_umask;
}

static dfrt_status write_all(int fd, const void *data, uint64_t len, const char *path) {
    const uint8_t *p = data;
    while (len > 0) {
        size_t step = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t w = write(fd, p, step);
        if (w < 0) {
            if (errno == EINTR) continue;
            return dfrt_fail(DFRT_IO_ERROR, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        len -= (uint64_t)w;
    }
    return DFRT_OK;
}

dfrt_status dfrt_atomic_open(const char *path, dfrt_atomic_file *f) {
    f->fd = -1;
    f->path = path;
    f->mode = 0666;
    if (!(f->tmp = dfrt_asprintf("%s.dfrt-tmp-XXXXXX", path))) return DFRT_OUT_OF_MEMORY;
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        dfrt_status s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot create: %s", path, strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        return s;
    }
    return DFRT_OK;
}

dfrt_status dfrt_atomic_write(dfrt_atomic_file *f, const void *data, uint64_t len) {
    return write_all(f->fd, data, len, f->path);
}

void dfrt_atomic_abort(dfrt_atomic_file *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    f->fd = -1;
    f->tmp = NULL;
}

dfrt_status dfrt_atomic_commit(dfrt_atomic_file *f) {
    dfrt_status s = DFRT_OK;
    if (fchmod(f->fd, dfrt_file_mode(f->mode)) != 0)
        s = dfrt_fail(DFRT_IO_ERROR, "%s: chmod failed: %s", f->path, strerror(errno));
    else if (fsync(f->fd) != 0)
        s = dfrt_fail(DFRT_IO_ERROR, "%s: fsync failed: %s", f->path, strerror(errno));
    int rc = close(f->fd);
    f->fd = -1;
    if (s == DFRT_OK && rc != 0) s = dfrt_fail(DFRT_IO_ERROR, "%s: close failed: %s", f->path, strerror(errno));
    if (s == DFRT_OK && rename(f->tmp, f->path) != 0)
        s = dfrt_fail(DFRT_IO_ERROR, "%s: rename failed: %s", f->path, strerror(errno));
    if (s == DFRT_OK) {
        free(f->tmp);
        f->tmp = NULL;
    } else {
        dfrt_atomic_abort(f);
    }
    return s;
}

mode_t dfrt_source_mode(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (st.st_mode & 0666) : 0666;
}

dfrt_status dfrt_write_file_atomic(const char *path, const void *data, size_t len) {
    return dfrt_write_file_atomic_mode(path, data, len, 0666);
}

dfrt_status dfrt_write_file_atomic_mode(const char *path, const void *data, size_t len, mode_t mode) {
    dfrt_atomic_file f;
    DFRT_TRY(dfrt_atomic_open(path, &f));
    f.mode = mode;
    dfrt_status s = dfrt_atomic_write(&f, data, len);
    if (s == DFRT_OK) return dfrt_atomic_commit(&f);
    dfrt_atomic_abort(&f);
    return s;
}

dfrt_status dfrt_copy_file(const char *src, const char *dst, bool no_follow) {
    int in;
    struct stat st;
    DFRT_TRY(dfrt_open_regular(src, no_follow, &in, &st));
    dfrt_atomic_file f;
    dfrt_status s = dfrt_atomic_open(dst, &f);
    if (s != DFRT_OK) {
        close(in);
        return s;
    }
    f.mode = st.st_mode & 0777; /* never wider than the source (and the umask) */
    size_t cap = (size_t)1 << 20;
    char *buf = dfrt_malloc(cap, "a file copy");
    if (!buf) s = DFRT_OUT_OF_MEMORY;
    while (s == DFRT_OK) {
        ssize_t r = read(in, buf, cap);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) s = dfrt_fail(DFRT_IO_ERROR, "%s: read failed: %s", src, strerror(errno));
        if (r <= 0) break;
        s = dfrt_atomic_write(&f, buf, (uint64_t)r);
    }
    free(buf);
    close(in);
    if (s == DFRT_OK) return dfrt_atomic_commit(&f);
    dfrt_atomic_abort(&f);
    return s;
}

void dfrt_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
                char *child = dfrt_path_join(path, e->d_name);
                if (child) dfrt_remove_tree(child);
                free(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

size_t dfrt_sort_unique_strings(char **strings, size_t count) {
    if (count) qsort(strings, count, sizeof *strings, compare_strings);
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept && strcmp(strings[kept - 1], strings[i]) == 0) {
            free(strings[i]);
            continue;
        }
        strings[kept++] = strings[i];
    }
    return kept;
}

void dfrt_free_strings(char **strings, size_t count) {
    if (!strings) return;
    for (size_t i = 0; i < count; i++) free(strings[i]);
    free(strings);
}

static int compare_entries(const void *a, const void *b) {
    return strcmp(((const dfrt_dir_entry *)a)->name, ((const dfrt_dir_entry *)b)->name);
}

void dfrt_free_dir_entries(dfrt_dir_entry *entries, size_t count) {
    if (!entries) return;
    for (size_t i = 0; i < count; i++) free(entries[i].name);
    free(entries);
}

dfrt_status dfrt_list_dir_entries(const char *dir, dfrt_dir_entry **out_entries, size_t *out_count) {
    *out_entries = NULL;
    *out_count = 0;
    DIR *d = opendir(dir);
    if (!d) return dfrt_fail(DFRT_IO_ERROR, "%s: cannot read directory: %s", dir, strerror(errno));
    int dfd = dirfd(d);
    dfrt_dir_entry *entries = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    dfrt_status s = DFRT_OK;
    for (;;) {
        errno = 0;
        if ((e = readdir(d)) == NULL) {
            if (errno) s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot read directory: %s", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        struct stat lst, st;
        if (fstatat(dfd, e->d_name, &lst, AT_SYMLINK_NOFOLLOW) != 0) continue; /* removed meanwhile */
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            dfrt_dir_entry *grown = realloc(entries, cap * sizeof *entries);
            if (!grown) {
                s = dfrt_fail(DFRT_OUT_OF_MEMORY, "out of memory listing %s", dir);
                break;
            }
            entries = grown;
        }
        dfrt_dir_entry *de = &entries[count];
        de->lmode = lst.st_mode;
        de->mode = S_ISLNK(lst.st_mode) ? (fstatat(dfd, e->d_name, &st, 0) == 0 ? st.st_mode : 0) : lst.st_mode;
        if (!(de->name = dfrt_strdup(e->d_name))) {
            s = DFRT_OUT_OF_MEMORY;
            break;
        }
        count++;
    }
    closedir(d);
    if (s != DFRT_OK) {
        dfrt_free_dir_entries(entries, count);
        return s;
    }
    if (count) qsort(entries, count, sizeof *entries, compare_entries);
    *out_entries = entries;
    *out_count = count;
    return DFRT_OK;
}

dfrt_status dfrt_list_dir(const char *dir, char ***out_names, size_t *out_count) {
    *out_names = NULL;
    *out_count = 0;
    dfrt_dir_entry *entries;
    size_t n;
    DFRT_TRY(dfrt_list_dir_entries(dir, &entries, &n));
    char **names = dfrt_calloc(n, sizeof *names, "a directory listing");
    size_t count = 0;
    if (names)
        for (size_t i = 0; i < n; i++)
            if (S_ISREG(entries[i].mode)) {
                names[count++] = entries[i].name; /* sorted already */
                entries[i].name = NULL;
            }
    dfrt_free_dir_entries(entries, n);
    if (!names) return DFRT_OUT_OF_MEMORY;
    *out_names = names;
    *out_count = count;
    return DFRT_OK;
}

/* realpath, or NULL (no error set) */
static char *real_path(const char *path) { return realpath(path, NULL); }

dfrt_status dfrt_check_output_dir(const char *in_dir, const char *out_dir) {
    if (in_dir && !*in_dir) return dfrt_fail(DFRT_INVALID_ARGUMENT, "the input directory is an empty string");
    if (!out_dir || !*out_dir) return dfrt_fail(DFRT_INVALID_ARGUMENT, "the output directory is an empty string");
    size_t n = strlen(out_dir);
    while (n > 1 && out_dir[n - 1] == '/') n--;
    char *out = dfrt_strndup(out_dir, n);
    if (!out) return DFRT_OUT_OF_MEMORY;
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    char *parent = slash ? dfrt_strndup(out, slash == out ? 1 : (size_t)(slash - out)) : dfrt_strdup(".");
    char *in_real = NULL, *parent_real = NULL, *out_real = NULL;
    dfrt_status s = DFRT_OK;
    struct stat st;
    if (!parent) {
        s = DFRT_OUT_OF_MEMORY;
        goto done;
    }
    if (strcmp(out, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: not usable as the output directory; give the path of a new directory",
                      out_dir);
        goto done;
    }
    /* Not the input directory, nor inside it (where compress would read its own output). */
    if (in_dir && (in_real = real_path(in_dir)) && (parent_real = real_path(parent)) &&
        (out_real = dfrt_path_join(parent_real, base))) {
        size_t il = strlen(in_real);
        if (strcmp(out_real, in_real) == 0)
            s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: is the input directory; give a new directory as the output",
                          out_dir);
        else if (strncmp(out_real, in_real, il) == 0 && (out_real[il] == '/' || (il == 1 && in_real[0] == '/')))
            s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: is inside the input directory %s; write the output elsewhere",
                          out_dir, in_dir);
    }
    if (s != DFRT_OK) goto done;
    if (lstat(out, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            s = dfrt_fail(DFRT_INVALID_ARGUMENT,
                          "%s: is a symbolic link; give the path of a new directory as the output", out_dir);
            goto done;
        }
        if (!S_ISDIR(st.st_mode)) {
            s = dfrt_fail(DFRT_INVALID_ARGUMENT, "%s: exists and is not a directory", out_dir);
            goto done;
        }
        DIR *d = opendir(out);
        if (!d) {
            s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot read directory: %s", out_dir, strerror(errno));
            goto done;
        }
        struct dirent *e;
        bool empty = true;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
        closedir(d);
        if (!empty) {
            s = dfrt_fail(DFRT_INVALID_ARGUMENT,
                          "%s: output directory exists and is not empty; remove it or choose another", out_dir);
            goto done;
        }
    } else if (errno != ENOENT) {
        s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot create output directory: %s", out_dir, strerror(errno));
        goto done;
    }
    if (stat(parent, &st) != 0) {
        s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot create output directory: %s: %s", out_dir, parent, strerror(errno));
        goto done;
    }
    if (!S_ISDIR(st.st_mode)) {
        s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot create output directory: %s is not a directory", out_dir, parent);
        goto done;
    }
    if (access(parent, W_OK | X_OK) != 0) {
        s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot create output directory: %s", out_dir, strerror(errno));
        goto done;
    }
done:
    free(out);
    free(parent);
    free(in_real);
    free(parent_real);
    free(out_real);
    return s;
}

dfrt_status dfrt_staging_begin(const char *out_dir, dfrt_staging *out) {
    memset(out, 0, sizeof *out);
    dfrt_file_mode(0); /* read the umask now, before any worker thread creates files */
    DFRT_TRY(dfrt_check_output_dir(NULL, out_dir));
    /* Strip trailing slashes so the temporary directory is a sibling. */
    size_t n = strlen(out_dir);
    while (n > 1 && out_dir[n - 1] == '/') n--;
    out->final_path = dfrt_strndup(out_dir, n);
    if (!out->final_path) return DFRT_OUT_OF_MEMORY;
    out->tmp_path = dfrt_asprintf("%s.dfrt-tmp-XXXXXX", out->final_path);
    if (!out->tmp_path) {
        free(out->final_path);
        out->final_path = NULL;
        return DFRT_OUT_OF_MEMORY;
    }
    if (!mkdtemp(out->tmp_path)) {
        dfrt_status s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot create output directory: %s",
                                  out->final_path, strerror(errno));
        free(out->final_path);
        free(out->tmp_path);
        memset(out, 0, sizeof *out);
        return s;
    }
    return DFRT_OK;
}

dfrt_status dfrt_staging_commit(dfrt_staging *s) {
    dfrt_status st = DFRT_OK;
    if (chmod(s->tmp_path, dfrt_file_mode(0777)) != 0 || rename(s->tmp_path, s->final_path) != 0) {
        st = dfrt_fail(DFRT_IO_ERROR, "%s: cannot move the finished output into place: %s",
                       s->final_path, strerror(errno));
        dfrt_remove_tree(s->tmp_path);
    }
    free(s->final_path);
    free(s->tmp_path);
    memset(s, 0, sizeof *s);
    return st;
}

dfrt_status dfrt_staging_abort(dfrt_staging *s, dfrt_status status) {
    if (status == DFRT_IO_ERROR && s->final_path) dfrt_fail_prefix(status, "%s: not written", s->final_path);
    if (s->tmp_path) dfrt_remove_tree(s->tmp_path);
    free(s->final_path);
    free(s->tmp_path);
    memset(s, 0, sizeof *s);
    return status;
}

dfrt_status dfrt_make_dirs(const char *path) {
    if (!path || !*path) return dfrt_fail(DFRT_INVALID_ARGUMENT, "directory path is empty");
    char *p = dfrt_strdup(path);
    if (!p) return DFRT_OUT_OF_MEMORY;
    dfrt_status s = DFRT_OK;
    for (char *at = p + 1;; at++) {
        if (*at != '/' && *at != '\0') continue;
        if (at[-1] != '/') { /* each prefix that ends a component, "a", "a/b", ... */
            char c = *at;
            *at = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST)
                s = dfrt_fail(DFRT_IO_ERROR, "%s: cannot create directory: %s", p, strerror(errno));
            *at = c;
        }
        if (!*at || s != DFRT_OK) break;
    }
    struct stat st;
    if (s == DFRT_OK && (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)))
        s = dfrt_fail(DFRT_IO_ERROR, "%s: exists and is not a directory", path);
    free(p);
    return s;
}

dfrt_status dfrt_require_free_space(const char *dir, uint64_t needed, const char *purpose) {
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return dfrt_fail(DFRT_IO_ERROR, "%s: cannot read the free disk space: %s", dir, strerror(errno));
    uint64_t available = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    if (available < needed)
        return dfrt_fail(DFRT_IO_ERROR, "%s: %s needs %.1f GB of disk space, but only %.1f GB is free", dir, purpose,
                         (double)needed / 1e9, (double)available / 1e9);
    return DFRT_OK;
}

/* The CPUs this process may run on (its affinity mask: taskset, cgroup cpusets, Slurm), else
 * the online ones. */
double dfrt_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int dfrt_cpu_count(void) {
    cpu_set_t set;
    long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    if (n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 1024 ? 1024 : (int)n);
}

int dfrt_thread_count(int requested) { return requested > 0 ? requested : dfrt_cpu_count(); }

typedef struct parallel_state {
    dfrt_task_fn fn;
    void *ctx;
    size_t n;
    atomic_size_t next;
    atomic_bool stop;
    pthread_mutex_t lock;
    dfrt_status status;
    char message[2048];
} parallel_state;

static void *parallel_worker(void *arg) {
    parallel_state *ps = arg;
    for (;;) {
        if (atomic_load(&ps->stop)) break;
        size_t i = atomic_fetch_add(&ps->next, 1);
        if (i >= ps->n) break;
        dfrt_status s = ps->fn(ps->ctx, i);
        if (s != DFRT_OK) {
            pthread_mutex_lock(&ps->lock);
            if (ps->status == DFRT_OK) {
                ps->status = s;
                snprintf(ps->message, sizeof ps->message, "%s", dfrt_last_error());
            }
            pthread_mutex_unlock(&ps->lock);
            atomic_store(&ps->stop, true);
            break;
        }
    }
    return NULL;
}

dfrt_status dfrt_parallel_for(size_t n, int n_threads, dfrt_task_fn fn, void *ctx) {
    if (n == 0) return DFRT_OK;
    size_t threads = (size_t)dfrt_thread_count(n_threads);
    if (threads > n) threads = n;
    if (threads == 1) {
        for (size_t i = 0; i < n; i++) DFRT_TRY(fn(ctx, i));
        return DFRT_OK;
    }
    parallel_state ps = {.fn = fn, .ctx = ctx, .n = n, .status = DFRT_OK};
    atomic_init(&ps.next, 0);
    atomic_init(&ps.stop, false);
    pthread_mutex_init(&ps.lock, NULL);
    pthread_t *tids = calloc(threads - 1, sizeof *tids);
    size_t started = 0;
    if (tids)
        for (; started < threads - 1; started++)
            if (pthread_create(&tids[started], NULL, parallel_worker, &ps) != 0) break;
    parallel_worker(&ps); /* the caller works too; with no helper threads it does everything */
    for (size_t t = 0; t < started; t++) pthread_join(tids[t], NULL);
    free(tids);
    pthread_mutex_destroy(&ps.lock);
    if (ps.status != DFRT_OK) dfrt_set_error_message(ps.message);
    return ps.status;
}

struct dfrt_progress {
    pthread_mutex_t lock;
    dfrt_progress_fn fn;
    void *user;
    uint64_t done, total;
};

dfrt_progress *dfrt_progress_create(dfrt_progress_fn fn, void *user, uint64_t total) {
    if (!fn) return NULL;
    dfrt_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL; /* progress is optional: no report rather than a failure */
    pthread_mutex_init(&p->lock, NULL);
    p->fn = fn;
    p->user = user;
    p->total = total;
    fn(user, 0, total);
    return p;
}

void dfrt_progress_add(dfrt_progress *p, uint64_t amount) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->done += amount;
    p->fn(p->user, p->done, p->total);
    pthread_mutex_unlock(&p->lock);
}

void dfrt_progress_free(dfrt_progress *p) {
    if (!p) return;
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void dfrt_buf_append(dfrt_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void dfrt_buf_puts(dfrt_buf *b, const char *s) { dfrt_buf_append(b, s, strlen(s)); }

void dfrt_buf_printf(dfrt_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    char small[256];
    char *tmp = (size_t)n < sizeof small ? small : malloc((size_t)n + 1);
    if (!tmp) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    dfrt_buf_append(b, tmp, (size_t)n);
    if (tmp != small) free(tmp);
}

void dfrt_buf_json_string(dfrt_buf *b, const char *s) {
    dfrt_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': dfrt_buf_puts(b, "\\\""); break;
        case '\\': dfrt_buf_puts(b, "\\\\"); break;
        case '\n': dfrt_buf_puts(b, "\\n"); break;
        case '\r': dfrt_buf_puts(b, "\\r"); break;
        case '\t': dfrt_buf_puts(b, "\\t"); break;
        case '\b': dfrt_buf_puts(b, "\\b"); break;
        case '\f': dfrt_buf_puts(b, "\\f"); break;
        default:
            if (*p < 0x20) dfrt_buf_printf(b, "\\u%04x", *p);
            else dfrt_buf_append(b, (const char *)p, 1);
        }
    }
    dfrt_buf_puts(b, "\"");
}

/* Buffers of many megabytes: mapped directly and marked for transparent huge pages, so that
 * first touch costs one fault per 2 MiB instead of one per 4 KiB. */
#define LARGE_THRESHOLD ((size_t)4 << 20)

void *dfrt_alloc_large(size_t size, const char *what) {
    if (size < LARGE_THRESHOLD) return dfrt_malloc(size, what);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        dfrt_fail(DFRT_OUT_OF_MEMORY, "out of host memory allocating %zu bytes for %s", size, what);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void dfrt_free_large(void *p, size_t size) {
    if (!p) return;
    if (size < LARGE_THRESHOLD) free(p);
    else munmap(p, size);
}
