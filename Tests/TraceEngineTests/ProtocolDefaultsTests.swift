import Synchronization
import Testing
import TraceEngine
import TraceHandler
import TraceModel

/// The protocols' one-requirement shapes: a processor that only writes frames and a reporter that
/// only counts, through both handlers.
@Suite struct ProtocolDefaultsTests {
    /// Writes the frames with `append` and nothing else: no hash, no APM, no completion.
    struct FramesOnlyProcessor: TraceProcessor {
        func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
            trace.removeAll(keepingCapacity: true)
            rawTrace.withFrames { frames in
                for frame in frames { trace.append(file: FileID(frame.fileID), lineno: frame.addressOrLine, type: frame.type) }
            }
        }
    }

    /// Counts per hash; implements neither events nor `flush`.
    final class CountsOnlyReporter: TraceReporter {
        private let counts = Mutex<[TraceHash: Int]>([:])
        var result: [TraceHash: Int] { counts.withLock { $0 } }
        func reportFramesForTrace(_ trace: Trace) {}
        func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
            counts.withLock { $0[traceHash, default: 0] += Int(count) }
        }
    }

    /// A processor cannot forget the user-mode hash: distinct stacks stay distinct (before the hash
    /// was the processor's to set, this processor merged every stack into hash 0).
    @Test func distinctStacksStayDistinctWithoutTheProcessorHashing() async throws {
        let traces = syntheticTraces(count: 3_000, distinct: 300)
        let expected = Dictionary(traces.map { (Trace(unsymbolized: $0).hash, 1) }, uniquingKeysWith: +)
        #expect(expected.count > 100 && expected[TraceHash(high: 0, low: 0)] == nil, "\(expected.count) stacks")

        let serial = CountsOnlyReporter()
        try await runGoShapedHandler(traces, reporter: serial, processor: FramesOnlyProcessor())
        #expect(serial.result == expected)

        for thread in HashCacheThread.allCases {
            var configuration = EngineConfiguration()
            configuration.hashCacheThread = thread
            configuration.symbolize.policy = .block
            let staged = CountsOnlyReporter()
            let (statistics, _) = try await runEngine(traces, configuration: configuration, processor: FramesOnlyProcessor(), reporter: staged)
            #expect(staged.result == expected, "hash/cache on \(thread)")
            #expect(statistics.isConserved)
        }
    }

    /// The Go-shaped worker flushes its reporter once when its traces end, as the engine's stop does.
    @Test func theGoShapedWorkerFlushesAtTheEnd() async throws {
        let reporter = TallyReporter()
        let (stream, continuation) = AsyncStream.makeStream(of: RawTrace.self)
        for trace in syntheticTraces(count: 10, distinct: 5) { continuation.yield(trace) }
        continuation.finish()
        let worker = try start(
            reporter: reporter, processor: UnsymbolizedTraceProcessor(), traces: stream,
            times: FixedTimes(monitorInterval: .seconds(3600)), cacheSize: 16)
        await worker.exited()
        #expect(reporter.flushCount == 1)
        #expect(reporter.result.samples == 10)
    }

    /// A reporter without events support that is handed one anyway (a fan-out's member) gets the
    /// count and the frames.
    @Test func theDefaultTraceEventIsACountAndFrames() {
        let trace = Trace(unsymbolized: syntheticTraces(count: 1, distinct: 1)[0])
        let meta = TraceEventMeta(timestamp: UnixTime64(rawValue: 1), comm: .empty, pid: 1, tid: 1, cpu: 0)
        let countsOnly: any TraceReporter = CountsOnlyReporter()
        #expect(!countsOnly.supportsReportTraceEvent)
        countsOnly.reportTraceEvent(trace, meta: meta)
        #expect((countsOnly as! CountsOnlyReporter).result == [trace.hash: 1])
    }
}
