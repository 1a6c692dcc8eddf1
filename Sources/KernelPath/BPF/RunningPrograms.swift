internal import CLinuxShims

#if canImport(Glibc)
import Glibc
#endif

/// Returns once every BPF program that was running when it was called has finished: a detached
/// program's last counts are then in its maps, and a set of maps it no longer selects is no longer
/// written. `membarrier(MEMBARRIER_CMD_GLOBAL)` waits for an RCU grace period, inside which the
/// perf_event and tracepoint programs run; where the kernel refuses it (nohz_full), a pause far
/// longer than a program runs stands in.
func waitForRunningBPFPrograms() {
    if th_membarrier_global() == 0 { return }
    var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
    var left = timespec()
    while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
}
