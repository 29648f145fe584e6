#include "cvol/pool/allocator.h"
