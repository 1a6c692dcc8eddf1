import Synchronization
import Testing
import TraceModel
import TraceReporters

@Suite struct IntervalProfileReporterTests {
    typealias Fixture = ProfileReporterTests

    /// A reporter that collects the intervals it ends.
    final class Collector: Sendable {
        private let ended = Mutex<[IntervalProfile]>([])
        var intervals: [IntervalProfile] { ended.withLock { $0 } }
        func take(_ interval: IntervalProfile) { ended.withLock { $0.append(interval) } }
    }

    static func reporter(bound: Int = 16, retained: Int = 64, into collector: Collector) -> IntervalProfileReporter {
        IntervalProfileReporter(
            samplingPeriod: .milliseconds(10), bound: ProfileBound(maximumStacks: bound), retainedTraces: retained,
            start: UnixTime64(rawValue: 1_000), onInterval: collector.take)
    }

    /// A native trace of one frame at `address`, named `name` (the hash covers the address, not the name).
    static func trace(_ name: String, address: UInt64) -> Trace {
        var trace = Trace()
        trace.append(file: Fixture.app, lineno: address, type: .native, mappingStart: 0x400000, mappingEnd: 0x500000, symbol: name)
        trace.updateHash()
        return trace
    }

    /// The engine reports a trace's frames once and then only counts: a later interval's samples
    /// are named by frames that came in an earlier one. Counts belong to the interval they came in.
    @Test func countsStayInTheirIntervalAndFramesOutliveIt() throws {
        let collector = Collector()
        let reporter = Self.reporter(into: collector)
        let trace = Fixture.trace()
        reporter.reportFramesForTrace(trace)
        reporter.reportCountForTrace(trace.hash, count: 2, meta: Fixture.meta("app"))
        reporter.endInterval(at: UnixTime64(rawValue: 5_000))
        reporter.reportCountForTrace(trace.hash, count: 3, meta: Fixture.meta("app"))
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Fixture.meta("app", pid: 8))
        reporter.endInterval(at: UnixTime64(rawValue: 9_000))
        reporter.endInterval(at: UnixTime64(rawValue: 9_500))

        let intervals = collector.intervals
        #expect(intervals.map(\.number) == [1, 2, 3])
        #expect(intervals.map(\.start.rawValue) == [1_000, 5_000, 9_000])
        #expect(intervals.map(\.sampleCount) == [2, 4, 0])
        #expect(intervals[1].duration == .nanoseconds(4_000))
        let stack = ["do_syscall_64", "leaf", "app+0x2000"]
        let second = try DecodedProfile(intervals[1].encodedPprof())
        #expect(second.samples == [
            .init(functions: stack, values: [3, 30_000_000], comm: "app", pid: 7),
            .init(functions: stack, values: [1, 10_000_000], comm: "app", pid: 8),
        ])
        #expect(second.durationNanos == 4_000)
        #expect(intervals[1].foldedStacks().map { "\($0.stack) \($0.count)" } == ["app;app+0x2000;leaf;do_syscall_64_[k] 4"])
        let otlp = try DecodedOTLPProfile(intervals[1].encodedOTLP())
        #expect(otlp.samples.reduce(0) { $0 + $1.count } == 4 && otlp.zeroEntriesAreEmpty)
        #expect(try DecodedProfile(intervals[2].encodedPprof()).samples.isEmpty)
        #expect(reporter.totals.intervals == 3 && reporter.totals.samples == 6)
    }

    /// Each interval is bounded on its own: beyond `maximumStacks` distinct samples, its samples
    /// go to its `[overflow]` entry; the next interval starts with room again.
    /// A continuous profile of both origins: each interval holds its off-CPU blocks and time apart
    /// from its CPU samples, folds them apart, and the totals sum them; beyond the bound, off-CPU
    /// time goes to its own `[overflow]` line.
    @Test func offCPUTimeIsCountedPerIntervalAndOrigin() throws {
        let collector = Collector()
        let reporter = IntervalProfileReporter(
            samplingPeriod: .milliseconds(10), bound: ProfileBound(maximumStacks: 2), retainedTraces: 64, origins: [.cpu, .offCPU],
            start: UnixTime64(rawValue: 1_000), onInterval: collector.take)
        let trace = Fixture.trace()
        reporter.reportFramesForTrace(trace)
        reporter.reportCountForTrace(trace.hash, count: 4, meta: Fixture.meta("app"))
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Fixture.meta("app", origin: .offCPU, offTime: 2_000_000))
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Fixture.meta("app", origin: .offCPU, offTime: 3_000_000))
        // A third key: beyond the bound of two, into the off-CPU overflow.
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Fixture.meta("app", pid: 9, origin: .offCPU, offTime: 700_000))
        reporter.endInterval(at: UnixTime64(rawValue: 5_000))

        let interval = try #require(collector.intervals.first)
        #expect(interval.sampleCount == 7 && interval.offCPUSamples == 3 && interval.offCPUTime == 5_700_000)
        #expect(interval.overflowSamples == 1)
        #expect(interval.foldedStacks(origin: .sampling).map(\.count) == [4])
        #expect(interval.foldedStacks(origin: .offCPU).map(\.count) == [5_000, 700], "microseconds, the overflow apart")
        #expect(try DecodedProfile(interval.encodedPprof()).sampleTypes == ["samples/count", "cpu/nanoseconds", "off_cpu/nanoseconds"])
        #expect(reporter.totals.offCPUSamples == 3 && reporter.totals.offCPUTime == 5_700_000)
    }

    @Test func eachIntervalHasItsOwnBound() throws {
        let collector = Collector()
        let reporter = Self.reporter(bound: 2, into: collector)
        let trace = Fixture.trace()
        reporter.reportFramesForTrace(trace)
        for pid in UInt32(100)..<105 { reporter.reportCountForTrace(trace.hash, count: 1, meta: Fixture.meta("sh", pid: pid)) }
        reporter.endInterval(at: UnixTime64(rawValue: 2_000))
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Fixture.meta("sh", pid: 200))
        reporter.endInterval(at: UnixTime64(rawValue: 3_000))

        let (first, second) = (collector.intervals[0], collector.intervals[1])
        #expect(first.sampleCount == 5 && first.overflowSamples == 3 && first.distinctSampleCount == 2)
        let decoded = try DecodedProfile(first.encodedPprof())
        #expect(decoded.samples.first == .init(functions: [ProfileBound.overflowFrame], values: [3, 30_000_000], comm: "[overflow]", pid: 0))
        #expect(first.foldedStacks().first.map { "\($0.stack) \($0.count)" } == "[overflow];\(ProfileBound.overflowFrame) 3")
        #expect(second.sampleCount == 1 && second.overflowSamples == 0 && second.distinctSampleCount == 1)
        #expect(reporter.totals.overflowSamples == 3)
    }

    /// Frames are kept least recently used first out: a trace counted in every interval keeps
    /// its frames while others come and go; one no longer kept is counted and named unknown.
    @Test func retainedFramesAreBoundedAndAnEvictedTraceIsCountedAsUnknown() throws {
        let collector = Collector()
        let reporter = Self.reporter(retained: 2, into: collector)
        let (hot, first, second) = (Self.trace("hot", address: 0x401000), Self.trace("first", address: 0x402000), Self.trace("second", address: 0x403000))
        reporter.reportFramesForTrace(hot)
        reporter.reportFramesForTrace(first)
        reporter.reportCountForTrace(hot.hash, count: 1, meta: Fixture.meta("app"))  // hot is used: first is the oldest
        reporter.reportFramesForTrace(second)  // evicts first
        reporter.reportCountForTrace(first.hash, count: 2, meta: Fixture.meta("app"))
        reporter.reportCountForTrace(hot.hash, count: 1, meta: Fixture.meta("app"))
        reporter.endInterval(at: UnixTime64(rawValue: 2_000))

        let interval = collector.intervals[0]
        #expect(reporter.retainedTraceCount == 2)
        #expect(interval.sampleCount == 4 && interval.unknownTraceSamples == 2 && reporter.totals.unknownTraceSamples == 2)
        let folded = Set(interval.foldedStacks().map { "\($0.stack) \($0.count)" })
        #expect(folded == ["app;hot 2", "app;[unknown trace \(first.hash)] 2"])
    }

    /// Under churn every interval brings new traces: the frames of evicted ones are dropped when
    /// the kept traces' frames move to fresh storage, and those kept are still named right.
    @Test func framesOfEvictedTracesDoNotAccumulate() throws {
        let collector = Collector()
        let reporter = Self.reporter(bound: 1000, retained: 150, into: collector)
        let hot = Self.trace("hot", address: 0x400100)
        reporter.reportFramesForTrace(hot)
        for round in 0..<100 {
            for index in 0..<100 {
                let trace = Self.trace("churn-\(round)-\(index)", address: 0x410000 + UInt64(round * 100 + index))
                reporter.reportFramesForTrace(trace)
                reporter.reportCountForTrace(trace.hash, count: 1, meta: Fixture.meta("sh"))
            }
            reporter.reportCountForTrace(hot.hash, count: 1, meta: Fixture.meta("hot"))
            reporter.endInterval(at: UnixTime64(rawValue: 2_000 + UInt64(round)))
        }
        let last = try #require(collector.intervals.last)
        #expect(last.sampleCount == 101 && last.unknownTraceSamples == 0)
        #expect(last.foldedStacks().contains { $0.stack == "hot;hot" && $0.count == 1 })
        #expect(last.foldedStacks().contains { $0.stack == "sh;churn-99-0" })
        // 10 001 traces of one frame each went through; a compaction leaves the kept ones'
        // frames, and the next comes once there are 4096.
        #expect(reporter.retainedFrameCount <= 4096 + 100, "\(reporter.retainedFrameCount) frames interned")
    }
}
