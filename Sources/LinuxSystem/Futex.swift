internal import CLinuxShims
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a futex wait ended with. Spurious wake-ups are normal: callers re-check their condition.
public enum FutexWaitResult: Sendable {
    /// The wait returned 0: a wake-up, maybe spurious.
    case woken
    /// `word` did not hold `expected` when the wait began (`EAGAIN`).
    case valueChanged
    /// `timeout` passed (`ETIMEDOUT`).
    case timedOut
    /// A signal interrupted the wait (`EINTR`).
    case interrupted
}

/// Futex operations on a 32-bit word inside an `Atomic<UInt32>`.
///
/// `Atomic<UInt32>` has the size and alignment of a `UInt32` and is backed by it, which is what the
/// kernel compares and sleeps on; the address stays valid while the atomic's owner lives.
public enum Futex {
    /// Sleeps while `word` holds `expected`, for at most `timeout` (nil: no limit).
    public static func wait(_ word: borrowing Atomic<UInt32>, expected: UInt32, timeout: Duration?) -> FutexWaitResult {
        let nanoseconds: Int64 = timeout.map(saturatingNanoseconds) ?? -1
        let result = withUnsafePointer(to: word) { pointer in
            th_futex_wait(UnsafeMutableRawPointer(mutating: pointer).assumingMemoryBound(to: UInt32.self), expected, nanoseconds)
        }
        switch -result {
        case 0: return .woken
        case EAGAIN: return .valueChanged
        case ETIMEDOUT: return .timedOut
        default: return .interrupted  // EINTR; EFAULT/EINVAL cannot happen with a live word
        }
    }

    /// `duration` in nanoseconds, at most Int64.max (292 years) and at least 0.
    static func saturatingNanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        let (total, sumOverflow) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return sumOverflow ? .max : total
    }

    /// Wakes up to `count` threads sleeping on `word`.
    public static func wake(_ word: borrowing Atomic<UInt32>, count: Int32 = Int32.max) {
        _ = withUnsafePointer(to: word) { pointer in
            th_futex_wake(UnsafeMutableRawPointer(mutating: pointer).assumingMemoryBound(to: UInt32.self), count)
        }
    }
}
