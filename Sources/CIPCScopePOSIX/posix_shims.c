/* Everything is static inline in include/cipcscope_posix.h; SwiftPM needs one source file. */
#include "cipcscope_posix.h"
