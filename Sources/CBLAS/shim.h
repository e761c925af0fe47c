// OpenBLAS: CBLAS interface plus the thread-count controls.
#include <cblas.h>
