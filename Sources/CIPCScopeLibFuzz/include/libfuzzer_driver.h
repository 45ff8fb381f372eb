// libFuzzer's driver, for ipcscope-libfuzz's fuzzing build (fuzz/swift/build.sh, -D LIBFUZZER).
// Only declared: the plain build never calls it, so it links without libFuzzer's runtime.
#ifndef CIPCSCOPE_LIBFUZZER_DRIVER_H
#define CIPCSCOPE_LIBFUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer as its own main() would, with `callback` as LLVMFuzzerTestOneInput.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
