// liburing (Debian liburing-dev). Its helpers (io_uring_get_sqe, io_uring_prep_poll_multishot,
// io_uring_submit, io_uring_wait_cqe, io_uring_cqe_seen) are static inline and import directly.
#include <liburing.h>
