// zlib, for gzip-compressing pprof profiles.
#pragma once
#include <zlib.h>

// deflateInit2 is a macro (it passes the header's version and z_stream size): Swift cannot call it.
// windowBits 15 + 16 asks for a gzip wrapper instead of zlib's.
static inline int th_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

// inflateInit2, for reading gzip back (tests).
static inline int th_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}
