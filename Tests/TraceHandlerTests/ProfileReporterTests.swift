import Synchronization
import Testing
import TraceHandler
import TraceModel
import TraceReporters

@Suite struct ProfileReporterTests {
    static func meta(_ comm: String, pid: UInt32 = 7, origin: TraceOrigin = .sampling, offTime: UInt64 = 0) -> TraceEventMeta {
        TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm(comm), pid: pid, tid: pid, cpu: 0, origin: origin, offTime: offTime)
    }

    static let app = FileID(high: 0xa, low: 0x1)

    /// kernel leaf, a named native frame, an unnamed one: leaf first, as converted traces are.
    static func trace() -> Trace {
        var trace = Trace()
        trace.append(file: FileID(high: 0x6b65_726e_656c, low: 0), lineno: 0xffff_ffff_8100_0010, type: .kernel, symbol: "do_syscall_64")
        trace.append(file: app, lineno: 0x401000, type: .native, mappingStart: 0x400000, mappingEnd: 0x500000, symbol: "leaf")
        trace.append(file: app, lineno: 0x2000, type: FrameType.native.asError, mappingStart: 0x400000, mappingEnd: 0x500000, symbol: "app+0x2000")
        trace.updateHash()
        return trace
    }

    @Test func samplesCarryNamedFramesLeafFirstCountsAndCPUTime() throws {
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10))
        reporter.reportExecutable(ExecutableMetadata(fileID: Self.app, fileName: "/usr/bin/app", buildID: "abcd"))
        let trace = Self.trace()
        reporter.reportCountForTrace(trace.hash, count: 2, meta: Self.meta("app"))
        reporter.reportFramesForTrace(trace)
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("app"))
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("app", pid: 8))
        #expect(reporter.sampleCount == 4)

        let profile = try DecodedProfile(reporter.encodedPprof(start: UnixTime64(rawValue: 1), duration: .seconds(2)))
        #expect(profile.sampleTypes == ["samples/count", "cpu/nanoseconds"])
        #expect(profile.period == 10_000_000)
        #expect(profile.durationNanos == 2_000_000_000)
        let stack = ["do_syscall_64", "leaf", "app+0x2000"]
        #expect(profile.samples == [
            .init(functions: stack, values: [3, 30_000_000], comm: "app", pid: 7),
            .init(functions: stack, values: [1, 10_000_000], comm: "app", pid: 8),
        ])
        #expect(Set(profile.mappingFiles) == ["[kernel.kallsyms]", "/usr/bin/app"])
        #expect(profile.buildIDs[profile.mappingFiles.firstIndex(of: "/usr/bin/app")!] == "abcd")
    }

    /// A profile of both origins: CPU samples weigh their period in `cpu/nanoseconds`, off-CPU
    /// samples their time off the CPU in `off_cpu/nanoseconds` (the same stack is two samples), and
    /// the OTLP request holds one profile for each; folded lines of each origin fold apart.
    @Test func offCPUSamplesWeighTheirTimeOffTheCPU() throws {
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10), origins: [.cpu, .offCPU])
        let trace = Self.trace()
        reporter.reportFramesForTrace(trace)
        reporter.reportCountForTrace(trace.hash, count: 3, meta: Self.meta("app"))
        for offTime: UInt64 in [100_000_000, 150_000_400] {
            reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("app", origin: .offCPU, offTime: offTime))
        }
        #expect(reporter.sampleCount == 5)
        #expect(reporter.offCPUTotals.samples == 2 && reporter.offCPUTotals.time == 250_000_400)

        let profile = try DecodedProfile(reporter.encodedPprof(start: UnixTime64(rawValue: 1), duration: .seconds(2)))
        #expect(profile.sampleTypes == ["samples/count", "cpu/nanoseconds", "off_cpu/nanoseconds"])
        let stack = ["do_syscall_64", "leaf", "app+0x2000"]
        #expect(profile.samples == [
            .init(functions: stack, values: [3, 30_000_000, 0], comm: "app", pid: 7),
            .init(functions: stack, values: [2, 0, 250_000_400], comm: "app", pid: 7),
        ])

        let cpu = try DecodedOTLPProfile(reporter.encodedOTLP(start: UnixTime64(rawValue: 5), duration: .seconds(1)))
        let offCPU = try DecodedOTLPProfile(reporter.encodedOTLP(start: UnixTime64(rawValue: 5), duration: .seconds(1)), profile: 1)
        #expect(cpu.profileCount == 2)
        #expect(cpu.sampleType == "samples/count" && cpu.periodType == "cpu/nanoseconds" && cpu.samples.map(\.count) == [3])
        #expect(offCPU.sampleType == "off_cpu/nanoseconds" && offCPU.periodType == "" && offCPU.samples.map(\.count) == [250_000_400])

        let line = "app;app+0x2000;leaf;do_syscall_64_[k]"
        #expect(reporter.foldedStacks(origin: .sampling).map(\.stack) == [line])
        #expect(reporter.foldedStacks(origin: .sampling).map(\.count) == [3])
        #expect(reporter.foldedStacks(origin: .offCPU).map(\.count) == [250_000], "microseconds")
    }

    /// A profile of off-CPU time alone has that one time type, pprof's default, and no period.
    @Test func anOffCPUProfileHasItsOwnSampleType() throws {
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10), origins: .offCPU)
        let trace = Self.trace()
        reporter.reportFramesForTrace(trace)
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("app", origin: .offCPU, offTime: 1_499))
        let profile = try DecodedProfile(reporter.encodedPprof(start: UnixTime64(rawValue: 1), duration: .seconds(2)))
        #expect(profile.sampleTypes == ["samples/count", "off_cpu/nanoseconds"])
        #expect(profile.period == 0)
        #expect(profile.samples.map(\.values) == [[1, 1_499]])
        #expect(reporter.foldedStacks(origin: .offCPU).map(\.count) == [1], "1.499 µs rounds to 1")
        #expect(reporter.foldedStacks(origin: .sampling).isEmpty)
    }

    @Test func aCountWithoutFramesIsKeptAndNamed() throws {
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10))
        let hash = TraceHash(high: 1, low: 2)
        reporter.reportCountForTrace(hash, count: 5, meta: Self.meta("app"))
        let profile = try DecodedProfile(reporter.encodedPprof(start: UnixTime64(rawValue: 0), duration: .seconds(1)))
        #expect(profile.samples == [.init(functions: ["[unknown trace \(hash)]"], values: [5, 50_000_000], comm: "app", pid: 7)])
    }

    /// Process churn: the same stack in ever new processes. Beyond the bound, samples go to one
    /// `[overflow]` sample instead of one entry per process.
    @Test func beyondTheBoundSamplesAreCountedAsOverflow() throws {
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10), bound: ProfileBound(maximumStacks: 3))
        let trace = Self.trace()
        reporter.reportFramesForTrace(trace)
        for pid in UInt32(100)..<110 { reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("true", pid: pid)) }
        #expect(reporter.sampleCount == 10)
        let profile = try DecodedProfile(reporter.encodedPprof(start: UnixTime64(rawValue: 0), duration: .seconds(1)))
        #expect(profile.samples.count == 4)
        #expect(profile.samples.first == .init(functions: [ProfileBound.overflowFrame], values: [7, 70_000_000], comm: "[overflow]", pid: 0))
        #expect(profile.samples.reduce(0) { $0 + $1.values[0] } == 10)
    }

    /// The agent writes every format from one `ProfileReporter`: its folded lines are the folding
    /// reporter's for the same reports (pids merged, counts without frames kept, overflow).
    @Test func foldedLinesMatchTheFoldingReporters() {
        let profile = ProfileReporter(samplingPeriod: .milliseconds(10), bound: ProfileBound(maximumStacks: 4))
        let folded = FoldedStacksReporter(bound: ProfileBound(maximumStacks: 4))
        let trace = Self.trace()
        let unknown = TraceHash(high: 3, low: 4)
        for reporter in [profile, folded] as [any TraceReporter] {
            reporter.reportCountForTrace(trace.hash, count: 2, meta: Self.meta("app"))
            reporter.reportFramesForTrace(trace)
            reporter.reportCountForTrace(trace.hash, count: 3, meta: Self.meta("app", pid: 8))
            reporter.reportCountForTrace(unknown, count: 1, meta: Self.meta("gone"))
            reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("app", origin: .offCPU, offTime: 2_000_000))
        }
        #expect(profile.foldedStacks().map(\.stack) == folded.foldedStacks().map(\.stack))
        #expect(profile.foldedStacks().map(\.count) == [5, 1])
        #expect(profile.foldedStacks().map(\.count) == folded.foldedStacks().map(\.count))
        #expect(profile.foldedStacks(origin: .offCPU).map(\.count) == [2_000])
        #expect(profile.foldedStacks(origin: .offCPU).map(\.stack) == folded.foldedStacks(origin: .offCPU).map(\.stack))
        #expect(folded.foldedStacks(origin: .offCPU).map(\.count) == [2_000])
        #expect(folded.offCPUTime == 2_000_000)
    }

    @Test func theGzippedProfileInflatesToTheEncodedOne() throws {
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10))
        let trace = Self.trace()
        reporter.reportTraceEvent(trace, meta: Self.meta("app"))
        let start = UnixTime64(rawValue: 1_800_000_000_000_000_000)
        let gzipped = try reporter.gzippedPprof(start: start, duration: .seconds(1))
        #expect(gzipped.prefix(2) == [0x1f, 0x8b])
        #expect(gunzip(gzipped) == reporter.encodedPprof(start: start, duration: .seconds(1)))
    }

    @Test func theOTLPRequestCarriesTheSameSamplesWithAttributes() throws {
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10))
        reporter.reportExecutable(ExecutableMetadata(fileID: Self.app, fileName: "/usr/bin/app", buildID: "abcd"))
        let trace = Self.trace()
        reporter.reportFramesForTrace(trace)
        reporter.reportCountForTrace(trace.hash, count: 3, meta: Self.meta("app"))
        reporter.reportCountForTrace(trace.hash, count: 1, meta: Self.meta("app", pid: 8))
        reporter.reportCountForTrace(TraceHash(high: 1, low: 2), count: 2, meta: Self.meta("lost"))

        let profile = try DecodedOTLPProfile(reporter.encodedOTLP(start: UnixTime64(rawValue: 5), duration: .seconds(1)))
        #expect(profile.zeroEntriesAreEmpty)
        #expect(profile.sampleType == "samples/count")
        #expect(profile.periodType == "cpu/nanoseconds")
        #expect(profile.period == 10_000_000)
        let stack = ["do_syscall_64", "leaf", "app+0x2000"]
        #expect(profile.samples == [
            .init(functions: stack, count: 3, attributes: ["thread.name": "app", "process.pid": "7"]),
            .init(functions: ["[unknown trace \(TraceHash(high: 1, low: 2))]"], count: 2, attributes: ["thread.name": "lost", "process.pid": "7"]),
            .init(functions: stack, count: 1, attributes: ["thread.name": "app", "process.pid": "8"]),
        ])
        let app = try #require(profile.mappingFiles.firstIndex(of: "/usr/bin/app"))
        #expect(profile.mappingAttributes[app] == ["process.executable.build_id.gnu": "abcd"])
        #expect(profile.mappingFiles.contains("[kernel.kallsyms]"))
    }

    @Test func fanOutGivesEveryReporterEveryCall() throws {
        let folded = FoldedStacksReporter()
        let pprof = ProfileReporter(samplingPeriod: .milliseconds(10))
        let both = FanOutReporter([folded, pprof])
        #expect(!both.supportsReportTraceEvent)
        let trace = Self.trace()
        both.reportFramesForTrace(trace)
        both.reportCountForTrace(trace.hash, count: 3, meta: Self.meta("app"))
        #expect(folded.foldedLines() == ["app;app+0x2000;leaf;do_syscall_64_[k] 3"])
        #expect(pprof.sampleCount == 3)
    }

    /// Executables reach the members that want them (a profile names mappings from them).
    @Test func fanOutPassesExecutablesToTheReportersThatTakeThem() throws {
        let folded = FoldedStacksReporter()
        let pprof = ProfileReporter(samplingPeriod: .milliseconds(10))
        let both: any ExecutableReporter = FanOutReporter([folded, pprof])
        both.reportExecutable(ExecutableMetadata(fileID: Self.app, fileName: "/usr/bin/app", buildID: "abcd"))
        pprof.reportFramesForTrace(Self.trace())
        pprof.reportCountForTrace(Self.trace().hash, count: 1, meta: Self.meta("app"))
        let profile = try DecodedProfile(pprof.encodedPprof(start: UnixTime64(rawValue: 1), duration: .seconds(1)))
        #expect(profile.mappingFiles.contains("/usr/bin/app"))
    }

    @Test func fanOutPassesFlushOnToEveryReporter() {
        final class FlushCounter: TraceReporter {
            let flushes = Mutex(0)
            func reportFramesForTrace(_ trace: Trace) {}
            func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {}
            func flush() { flushes.withLock { $0 += 1 } }
        }
        let (a, b) = (FlushCounter(), FlushCounter())
        FanOutReporter([a, b]).flush()
        #expect(a.flushes.withLock { $0 } == 1 && b.flushes.withLock { $0 } == 1)
    }
}
