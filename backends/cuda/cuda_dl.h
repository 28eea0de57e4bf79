/* Libraries dfrt's CUDA backend loads at run time (cuBLAS, NCCL): their functions by name. Not
 * installed. */
#ifndef DFRT_CUDA_DL_H
#define DFRT_CUDA_DL_H

#include <dlfcn.h>
#include <stddef.h>

typedef struct dfrt_dl_symbol {
    void **fn;
    const char *name;
} dfrt_dl_symbol;

/* Looks every symbol up in so; the name of the first missing one, or NULL when all are there. */
static inline const char *dfrt_dl_resolve(void *so, const dfrt_dl_symbol *syms, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(*syms[i].fn = dlsym(so, syms[i].name))) return syms[i].name;
    return NULL;
}

#endif
