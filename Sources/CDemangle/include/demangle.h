/*
 * The two demanglers the symbolizer uses, declared for Swift: the Swift runtime's own
 * swift_demangle (exported by libswiftCore, which every Swift program links) and the Itanium C++
 * ABI's __cxa_demangle from libstdc++ (C++ and legacy Rust `_ZN…E` names). Both return a malloc'd
 * string the caller frees, or NULL.
 */
#ifndef TH_DEMANGLE_H
#define TH_DEMANGLE_H

#include <stddef.h>
#include <stdint.h>

char *th_demangle_swift(const char *name, size_t length);
char *th_demangle_cxx(const char *name);

#endif
