// glibc calls that the Glibc Swift module does not export: the allocator controls.
#include <malloc.h>
