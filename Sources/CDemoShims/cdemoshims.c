/* Everything is static inline in include/cdemoshims.h; SwiftPM needs one source file. */
#include "cdemoshims.h"
