#include "demangle.h"

#include <stdlib.h>

extern char *swift_demangle(const char *mangled, size_t length, char *output, size_t *output_size, uint32_t flags);
extern char *__cxa_demangle(const char *mangled, char *output, size_t *length, int *status);

char *th_demangle_swift(const char *name, size_t length) { return swift_demangle(name, length, NULL, NULL, 0); }

char *th_demangle_cxx(const char *name) {
    int status = 0;
    char *out = __cxa_demangle(name, NULL, NULL, &status);
    if (status != 0) {
        free(out);
        return NULL;
    }
    return out;
}
