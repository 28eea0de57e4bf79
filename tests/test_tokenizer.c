/* Placeholder: the tokenizer tests are being written (issue 4). */
#include "test.h"

int main(void) { return test_finish(); }
