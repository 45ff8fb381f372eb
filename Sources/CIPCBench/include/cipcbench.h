#ifndef CIPCBENCH_H
#define CIPCBENCH_H
#include <stdint.h>
#endif
