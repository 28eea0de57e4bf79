/* dfrt devices */
#include "cli.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: dfrt devices [--json]\n"
    "\n"
    "Lists every backend compiled into dfrt and its devices: name, memory, API and driver\n"
    "versions, and the capabilities dfrt uses (Vulkan: subgroup size, shared memory, largest\n"
    "storage-buffer range, 8/16-bit storage, int64, and the cooperative-matrix shapes and\n"
    "types the device offers through VK_NV_cooperative_matrix; CUDA: compute capability and\n"
    "SMs, and the other GPUs it has peer access to, which a layer split's copies between\n"
    "devices use). A backend that is compiled in but cannot run here is listed with the reason.\n"
    "Also says which device --backend auto would choose. On Vulkan and the CPU backend, copies\n"
    "between devices go through host memory.\n";

int cmd_devices(int argc, char **argv) {
    cli_args a = {argc, argv, 1, "devices", "--json --help -h", help};
    const char *arg, *inline_value;
    int json = 0, is_option;
    while ((arg = cli_next(&a, &is_option, &inline_value))) {
        if (!is_option) return cli_usage_error("devices", "unexpected argument \"%s\"", arg);
        json = 1; /* --json */
    }
    dfrt_device_info *devs;
    size_t n;
    dfrt_status s = dfrt_device_list(&devs, &n);
    if (s != DFRT_OK) return cli_fail("devices", s);
    char mem[32];
    if (json) printf("[\n");
    for (size_t i = 0; i < n; i++) {
        const dfrt_device_info *d = &devs[i];
        cli_format_bytes(mem, sizeof mem, (double)d->memory_bytes);
        if (json) { /* through cJSON, which escapes what drivers put in names and versions */
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "backend", d->backend);
            cJSON_AddNumberToObject(o, "index", d->index);
            cJSON_AddStringToObject(o, "name", d->name);
            cJSON_AddStringToObject(o, "type", dfrt_device_type_name(d->type));
            cJSON_AddBoolToObject(o, "available", d->available);
            cJSON_AddStringToObject(o, "unavailable_reason", d->unavailable_reason);
            cJSON_AddNumberToObject(o, "memory_bytes", (double)d->memory_bytes);
            cJSON_AddStringToObject(o, "api_version", d->api_version);
            cJSON_AddStringToObject(o, "driver_version", d->driver_version);
            cJSON_AddNumberToObject(o, "subgroup_size", d->subgroup_size);
            cJSON_AddNumberToObject(o, "shared_memory_bytes", d->shared_memory_bytes);
            cJSON_AddNumberToObject(o, "max_storage_buffer_range", (double)d->max_storage_buffer_range);
            cJSON_AddNumberToObject(o, "max_allocation_bytes", (double)d->max_allocation_bytes);
            cJSON_AddBoolToObject(o, "storage_8bit", d->storage_8bit);
            cJSON_AddBoolToObject(o, "storage_16bit", d->storage_16bit);
            cJSON_AddBoolToObject(o, "int64", d->int64);
            cJSON_AddBoolToObject(o, "subgroup_arithmetic", d->subgroup_arithmetic);
            cJSON_AddBoolToObject(o, "timestamps", d->timestamps);
            cJSON_AddNumberToObject(o, "compute_capability", d->compute_capability);
            cJSON_AddNumberToObject(o, "multiprocessors", d->multiprocessors);
            cJSON *peers = cJSON_AddArrayToObject(o, "peer_devices");
            for (int j = 0; j < 32; j++)
                if (d->peer_mask >> j & 1) cJSON_AddItemToArray(peers, cJSON_CreateNumber(j));
            cJSON *cm = cJSON_AddObjectToObject(o, "cooperative_matrix");
            cJSON_AddStringToObject(cm, "extension", d->coopmat_extension);
            cJSON *shapes = cJSON_AddArrayToObject(cm, "shapes");
            for (uint32_t j = 0; j < d->n_coopmat; j++) {
                const dfrt_coopmat_shape *c = &d->coopmat[j];
                cJSON *sh = cJSON_CreateObject();
                cJSON_AddNumberToObject(sh, "m", c->m);
                cJSON_AddNumberToObject(sh, "n", c->n);
                cJSON_AddNumberToObject(sh, "k", c->k);
                cJSON_AddStringToObject(sh, "a", c->a);
                cJSON_AddStringToObject(sh, "b", c->b);
                cJSON_AddStringToObject(sh, "c", c->c);
                cJSON_AddStringToObject(sh, "result", c->result);
                if (!cJSON_AddItemToArray(shapes, sh)) cJSON_Delete(sh);
            }
            char *text = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (!text) {
                free(devs);
                fprintf(stderr, "dfrt devices: out of memory\n");
                return CLI_FAIL;
            }
            printf("  %s%s\n", text, i + 1 < n ? "," : "");
            cJSON_free(text);
            continue;
        }
        if (d->index < 0 || strcmp(d->name, "(none)") == 0) { /* a backend without devices: why */
            printf("%-7s    unavailable: %s\n", d->backend, d->unavailable_reason);
            continue;
        }
        printf("%-7s %d  %s (%s)\n", d->backend, d->index, d->name, dfrt_device_type_name(d->type));
        if (!d->available) {
            printf("          unavailable: %s\n", d->unavailable_reason);
            continue;
        }
        printf("          memory %s, %s, driver %s\n", mem, d->api_version, d->driver_version);
        if (strcmp(d->backend, "vulkan") == 0) {
            char range[32];
            cli_format_bytes(range, sizeof range, (double)d->max_storage_buffer_range);
            printf("          subgroup %u, shared memory %u B, max storage buffer range %s, 8-bit storage %s, "
                   "16-bit storage %s, int64 %s, subgroup arithmetic %s, timestamps %s\n",
                   d->subgroup_size, d->shared_memory_bytes, range, d->storage_8bit ? "yes" : "no",
                   d->storage_16bit ? "yes" : "no", d->int64 ? "yes" : "no", d->subgroup_arithmetic ? "yes" : "no",
                   d->timestamps ? "yes" : "no");
            if (!d->coopmat_extension[0]) {
                printf("          cooperative matrices: none\n");
            } else {
                printf("          cooperative matrices (%s, result = a . b + c, subgroup scope):", d->coopmat_extension);
                for (uint32_t j = 0; j < d->n_coopmat; j++) {
                    const dfrt_coopmat_shape *c = &d->coopmat[j];
                    printf("%s %ux%ux%u %s.%s+%s=%s", j ? "," : "", c->m, c->n, c->k, c->a, c->b, c->c, c->result);
                }
                printf("%s\n", d->n_coopmat ? "" : " no shapes reported");
            }
        } else if (strcmp(d->backend, "cuda") == 0) {
            printf("          compute capability %d.%d, %d SMs, shared memory %u B per block\n", d->compute_capability / 10,
                   d->compute_capability % 10, d->multiprocessors, d->shared_memory_bytes);
            printf("          peer access (a layer split's copies go straight to): ");
            if (!d->peer_mask) printf("none; copies to other devices are staged by the driver");
            for (int j = 0, k = 0; j < 32; j++)
                if (d->peer_mask >> j & 1) printf("%sdevice %d", k++ ? ", " : "", j);
            printf("\n");
        } else {
            printf("          %d cores\n", d->multiprocessors);
        }
    }
    if (json) printf("]\n");
    free(devs);
    if (!json) {
        dfrt_backend *b;
        s = dfrt_backend_open("auto", -1, &b);
        if (s == DFRT_OK) {
            printf("\n%s\n", dfrt_backend_selection(b));
            dfrt_backend_close(b);
        } else {
            printf("\n--backend auto: %s\n", dfrt_last_error());
        }
    }
    return CLI_OK;
}
