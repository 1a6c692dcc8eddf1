// The system libraries, in one module: libbpf (libbpf-dev), liburing (liburing-dev) and libelf
// (libelf-dev). As separate modules each would carry its own copy of the libc headers they all
// include, and clang rejects two definitions of fd_set. libbpf's and libelf's APIs are plain
// functions; liburing's helpers (io_uring_get_sqe, io_uring_prep_poll_multishot,
// io_uring_wait_cqe_timeout, io_uring_cqe_seen) are static inline and import directly.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gelf.h>
#include <libelf.h>
#include <liburing.h>
