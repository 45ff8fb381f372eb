#include "cipcbench.h"
