import CommandLineSupport
import Histogram
import Synchronization
import TraceHandler
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// A reporter for benchmarks: counts what arrives and records the latency of every
/// `latencyStride`-th sample, from its capture time (the trace's ktime) to its report, in an
/// HdrHistogram (nanoseconds). Recording every sample (a clock read and a lock each) took 9 % of
/// the hit path's samples in `perf`, on the report stage's CPU that the engine shares; one in
/// eight keeps the percentiles (hundreds of thousands of samples a second) for an eighth of that.
final class LatencyRecordingReporter: TraceReporter, @unchecked Sendable {
    // @unchecked: the histogram sits behind `lock`; one stage (or the serial loop) reports.
    private let lock = Mutex(())
    private nonisolated(unsafe) var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    private let samples = Atomic<UInt64>(0)
    private let frames = Atomic<UInt64>(0)
    /// Samples seen by the reporting thread (one stage, or the serial loop, reports).
    private nonisolated(unsafe) var seen: UInt64 = 0
    static let latencyStride: UInt64 = 8

    var supportsReportTraceEvent: Bool { false }

    func reportFramesForTrace(_ trace: Trace) { frames.add(1, ordering: .relaxed) }

    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        record(meta)
        samples.add(UInt64(count), ordering: .relaxed)
    }

    func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        record(meta)
        samples.add(1, ordering: .relaxed)
    }

    private func record(_ meta: TraceEventMeta) {
        seen &+= 1
        guard seen % Self.latencyStride == 0 else { return }
        // The capture time went through the ktime → Unix-time offset read at start; a clock step
        // or slew since can put it a little in the future: count that as 0, not as a wrap-around.
        let now = UnixTime64.now().rawValue
        let latency = now > meta.timestamp.rawValue ? now - meta.timestamp.rawValue : 0
        lock.withLock { _ in _ = histogram.record(min(latency, 60_000_000_000)) }
    }

    var sampleCount: UInt64 { samples.load(ordering: .relaxed) }
    var frameReportCount: UInt64 { frames.load(ordering: .relaxed) }

    /// p50, p99, p99.9 and max, in microseconds.
    func percentiles() -> LatencyPercentiles {
        lock.withLock { _ in
            LatencyPercentiles(
                p50: Double(histogram.valueAtPercentile(50)) / 1000, p99: Double(histogram.valueAtPercentile(99)) / 1000,
                p999: Double(histogram.valueAtPercentile(99.9)) / 1000, max: Double(histogram.max) / 1000)
        }
    }
}

struct LatencyPercentiles: Codable, Hashable {
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double
}
