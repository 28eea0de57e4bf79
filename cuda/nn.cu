// Placeholder: the transformer ops of the CUDA backend (issue 4).
#include "kernels.h"
