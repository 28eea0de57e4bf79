/* Placeholder: BPE merges (issue 4). */
#include "internal.h"
