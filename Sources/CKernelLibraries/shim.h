// libbpf (libbpf-dev) and liburing (liburing-dev), in one module: as two modules each would
// carry its own copy of the libc headers both include, and clang rejects the two definitions of
// fd_set. libbpf's API is plain functions; liburing's helpers (io_uring_get_sqe,
// io_uring_prep_poll_multishot, io_uring_wait_cqe_timeout, io_uring_cqe_seen) are static inline
// and import directly.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <liburing.h>
