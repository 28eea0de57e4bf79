/* fault_inject.so: an LD_PRELOAD library that makes write(2) fail the way a full disk does, or
 * raises SIGINT part-way through a write, for files under one directory. Used by cli_test.sh
 * to check that compress and decompress leave nothing behind when the disk fills up or the
 * user presses Ctrl-C in the middle of a file.
 *   DFRT_FAULT_DIR=PATH          only regular files whose path starts with PATH are affected
 *   DFRT_FAULT_SPACE=BYTES       bytes those files may receive in all; then ENOSPC
 *   DFRT_FAULT_SIGINT_AT=BYTES   raise SIGINT (once) when the total passes BYTES */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ssize_t write(int fd, const void *buf, size_t n);

static ssize_t (*real_write)(int, const void *, size_t);
static const char *dir;
static long long space = -1, sigint_at = -1, written;
static int sigint_sent;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static long long env_bytes(const char *name) {
    const char *v = getenv(name);
    return v && *v ? atoll(v) : -1;
}

__attribute__((constructor)) static void init(void) {
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    dir = getenv("DFRT_FAULT_DIR");
    space = env_bytes("DFRT_FAULT_SPACE");
    sigint_at = env_bytes("DFRT_FAULT_SIGINT_AT");
}

static int targeted(int fd) {
    struct stat st;
    if (!dir || !*dir || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len < 0) return 0;
    path[len] = '\0';
    return strncmp(path, dir, strlen(dir)) == 0;
}

ssize_t write(int fd, const void *buf, size_t n) {
    if (!real_write) init();
    if (n == 0 || !targeted(fd)) return real_write(fd, buf, n);
    pthread_mutex_lock(&lock);
    int raise_now = 0;
    if (sigint_at >= 0 && !sigint_sent && written + (long long)n > sigint_at) raise_now = sigint_sent = 1;
    if (space >= 0 && written + (long long)n > space) n = (size_t)(space - written);
    written += (long long)n;
    pthread_mutex_unlock(&lock);
    if (raise_now) raise(SIGINT);
    if (n == 0) {
        errno = ENOSPC;
        return -1;
    }
    return real_write(fd, buf, n);
}
