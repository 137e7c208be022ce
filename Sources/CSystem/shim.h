// glibc calls that the Glibc Swift module does not export: the allocator controls, and
// naming the calling thread (pthread_setname_np needs _GNU_SOURCE; a static inline here).
#include <malloc.h>
#include <sys/prctl.h>

/// Names the calling thread (15 bytes at most; longer names are cut by the kernel).
static inline int ecg_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }
