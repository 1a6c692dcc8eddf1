// libbpf (Debian libbpf-dev), imported as it is: its API is plain functions.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
