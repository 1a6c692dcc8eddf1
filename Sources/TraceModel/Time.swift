#if canImport(Glibc)
import Glibc
#endif

/// CLOCK_MONOTONIC nanoseconds, as the BPF side stamps a trace (upstream `times.KTime`).
public struct KTime: RawRepresentable, Hashable, Comparable, Sendable, BitwiseCopyable {
    /// Nanoseconds of CLOCK_MONOTONIC: since boot, not counting suspend.
    public var rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    @inlinable
    public static func < (a: KTime, b: KTime) -> Bool { a.rawValue < b.rawValue }

    /// CLOCK_MONOTONIC now (the vDSO: no system call).
    public static func now() -> KTime {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return KTime(rawValue: UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec))
    }
}

/// Nanoseconds since the Unix epoch (upstream `libpf.UnixTime64`).
public struct UnixTime64: RawRepresentable, Hashable, Comparable, Sendable, BitwiseCopyable {
    /// Nanoseconds since 1970-01-01 00:00:00 UTC.
    public var rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    @inlinable
    public static func < (a: UnixTime64, b: UnixTime64) -> Bool { a.rawValue < b.rawValue }
}

/// Converts kernel monotonic time to wall-clock time with one offset measured at start-up, the way
/// upstream's `KTime.UnixNano` does; the offset is a value so that the pure modules never read clocks.
public struct KTimeConverter: Sendable, BitwiseCopyable {
    /// Unix time minus monotonic time, in nanoseconds.
    public var offsetNanoseconds: Int64

    /// A converter with a known offset; `system()` measures this boot's.
    @inlinable
    public init(offsetNanoseconds: Int64) { self.offsetNanoseconds = offsetNanoseconds }

    /// The wall-clock time of `ktime`: its nanoseconds plus the offset, wrapping on overflow.
    @inlinable
    public func unixTime(_ ktime: KTime) -> UnixTime64 {
        UnixTime64(rawValue: UInt64(bitPattern: Int64(bitPattern: ktime.rawValue) &+ offsetNanoseconds))
    }
}

extension UnixTime64 {
    /// The wall clock now (`CLOCK_REALTIME`).
    public static func now() -> UnixTime64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UnixTime64(rawValue: UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec))
    }
}

extension KTimeConverter {
    /// The converter for this boot: `CLOCK_REALTIME - CLOCK_MONOTONIC`, read once (both are vDSO
    /// reads; an NTP step after this shifts timestamps, as upstream's offset does).
    public static func system() -> KTimeConverter {
        var realtime = timespec()
        var monotonic = timespec()
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        clock_gettime(CLOCK_REALTIME, &realtime)
        func nanoseconds(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }
        return KTimeConverter(offsetNanoseconds: nanoseconds(realtime) - nanoseconds(monotonic))
    }
}

extension UInt64 {
    /// `self + other`, or `UInt64.max` where that overflows: for sums of counts the kernel (or a
    /// file) supplies, which must not trap.
    @inlinable
    public func addingSaturating(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }

    /// `self * other`, or `UInt64.max` where that overflows.
    @inlinable
    public func multipliedSaturating(by other: UInt64) -> UInt64 {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? .max : product
    }

    /// `self - other`, or 0 where `other` is larger.
    @inlinable
    public func subtractingSaturating(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}
