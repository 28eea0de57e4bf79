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
    "storage-buffer range, 8/16-bit storage, int64; CUDA: compute capability and SMs). A backend\n"
    "that is compiled in but cannot run here is listed with the reason. Also says which device\n"
    "--backend auto would choose.\n";

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
        } else if (strcmp(d->backend, "cuda") == 0) {
            printf("          compute capability %d.%d, %d SMs, shared memory %u B per block\n", d->compute_capability / 10,
                   d->compute_capability % 10, d->multiprocessors, d->shared_memory_bytes);
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
