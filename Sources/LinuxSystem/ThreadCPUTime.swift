#if canImport(Glibc)
import Glibc
#endif

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), for per-thread cost accounting.
public enum ThreadCPUTime {
    /// The calling thread's CPU time so far (user and system), in seconds.
    public static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
