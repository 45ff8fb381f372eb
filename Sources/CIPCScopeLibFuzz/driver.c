// Nothing to define: the header declares libFuzzer's LLVMFuzzerRunDriver (see libfuzzer_driver.h).
#include "libfuzzer_driver.h"
