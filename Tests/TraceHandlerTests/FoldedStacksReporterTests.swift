import Testing
import TraceHandler
import TraceModel
import TraceReporters

@Suite struct FoldedStacksReporterTests {
    static func meta(_ comm: String) -> TraceEventMeta {
        TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm(comm), pid: 1, tid: 1, cpu: 0)
    }

    @Test func foldsRootFirstAndCountsPerCommAndStack() {
        var trace = Trace()
        trace.append(file: FileID(high: 0, low: 0), lineno: 0xffff_ffff_8100_0010, type: .kernel, symbol: "do_syscall_64")
        trace.append(file: FileID(high: 0, low: 1), lineno: 0x401000, type: .native, symbol: "leaf")
        trace.append(file: FileID(high: 0, low: 1), lineno: 0x402000, type: .native)
        trace.updateHash()
        let reporter = FoldedStacksReporter()
        reporter.reportCountForTrace(trace.hash, count: 2, meta: Self.meta("app"))
        reporter.reportFramesForTrace(trace)
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("other"))
        #expect(reporter.foldedLines() == [
            "app;0x402000;leaf;do_syscall_64_[k] 2",
            "other;0x402000;leaf;do_syscall_64_[k] 1",
        ])
        #expect(reporter.sampleCount == 3)
    }

    @Test func aCountWithoutFramesIsKeptAndNamed() {
        let reporter = FoldedStacksReporter()
        let hash = TraceHash(high: 1, low: 2)
        reporter.reportCountForTrace(hash, count: 5, meta: Self.meta("app"))
        #expect(reporter.foldedLines() == ["app;[unknown trace \(hash)] 5"])
    }

    @Test func separatorsInNamesAreReplaced() {
        var trace = Trace()
        trace.append(file: FileID(high: 0, low: 0), lineno: 1, type: .native, symbol: "a;b")
        trace.updateHash()
        let reporter = FoldedStacksReporter()
        reporter.reportTraceEvent(trace, meta: Self.meta("x;y"))
        #expect(reporter.foldedLines() == ["x:y;a:b 1"])
    }

    /// Process churn: a new process, a new stack, for as long as the profile runs. Beyond the
    /// bound, frames are not kept and samples are counted in one `[overflow]` line.
    @Test func beyondTheBoundSamplesAreCountedAsOverflow() {
        let reporter = FoldedStacksReporter(bound: ProfileBound(maximumStacks: 4))
        for i in 0..<10 {
            var trace = Trace()
            trace.append(file: FileID(high: 0, low: 1), lineno: UInt64(0x1000 + i), type: .native, symbol: "f\(i)")
            trace.updateHash()
            reporter.reportFramesForTrace(trace)
            reporter.reportCountForTrace(trace.hash, count: 2, meta: Self.meta("app"))
        }
        let lines = reporter.foldedLines()
        #expect(lines.count == 5, "\(lines)")
        #expect(lines.first == "[overflow];\(ProfileBound.overflowFrame) 12")
        #expect(Set(lines.dropFirst()) == ["app;f0 2", "app;f1 2", "app;f2 2", "app;f3 2"])
        #expect(reporter.sampleCount == 20)
    }
}
