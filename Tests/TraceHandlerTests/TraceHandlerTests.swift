import MetricsTestKit
import Testing
import TraceHandler
import TraceModel

/// Upstream tracehandler_test.go's cases, and the rest of `HandleTrace`'s contract.
@Suite struct TraceHandlerTests {
    @Test func noInputReportsNothing() async throws {
        #expect(try await handle([]).isEmpty)
    }

    @Test func singleTraceReportsFramesOnceAndOneCount() async throws {
        let trace = rawTrace(stack: 0x1234)
        let calls = try await handle([trace])
        let um = umHash(trace)
        #expect(calls == [
            .convert(trace.hash),
            .notify(trace.hash, umHash: um, count: 1),
            .count(um, count: 1, apmServiceName: ""),
            .frames(um),
            .complete(trace.ktime),
        ])
    }

    @Test func doubleTraceReportsFramesOnceAndTwoCounts() async throws {
        let trace = rawTrace(stack: 4)
        let calls = try await handle([trace, trace])
        let um = umHash(trace)
        #expect(calls.filter { $0 == .frames(um) }.count == 1)
        #expect(calls.filter { $0 == .count(um, count: 1, apmServiceName: "") }.count == 2)
        #expect(calls.filter { $0 == .convert(trace.hash) }.count == 1, "the second is a BPF cache hit")
    }

    @Test func aTraceSeenAgainWithOtherCommAndTimeIsACacheHit() async throws {
        let first = rawTrace(stack: 9, ktime: 1)
        var second = rawTrace(stack: 9, ktime: 2)
        second.comm = Comm("renamed")
        let calls = try await handle([first, second])
        #expect(calls.filter { if case .convert = $0 { true } else { false } }.count == 1)
    }

    @Test func traceEventReportersGetEverySampleWhole() async throws {
        let trace = rawTrace(stack: 7)
        let calls = try await handle([trace, trace], supportsReportTraceEvent: true, apmServiceName: "svc")
        let um = umHash(trace)
        let one: [Call] = [
            .convert(trace.hash), .notify(trace.hash, umHash: um, count: 1),
            .event(um, apmServiceName: "svc"), .complete(trace.ktime),
        ]
        #expect(calls == one + one, "no BPF-cache fast path, no counts, no frame reports")
    }

    @Test func apmServiceNameReachesTheCountOnBothPaths() async throws {
        let trace = rawTrace(stack: 3)
        let calls = try await handle([trace, trace], apmServiceName: "checkout")
        #expect(calls.filter { $0 == .count(umHash(trace), count: 1, apmServiceName: "checkout") }.count == 2)
    }

    @Test func symbolizationCompleteRunsLastForEveryTrace() async throws {
        let traces = [rawTrace(stack: 1, ktime: 10), rawTrace(stack: 2, ktime: 20), rawTrace(stack: 1, ktime: 30)]
        let calls = try await handle(traces)
        let completes = calls.enumerated().filter { if case .complete = $0.element { true } else { false } }
        #expect(completes.map(\.element) == [.complete(KTime(rawValue: 10)), .complete(KTime(rawValue: 20)), .complete(KTime(rawValue: 30))])
        #expect(completes.last?.offset == calls.count - 1)
        // Each trace's calls end with its own completion: nothing of a trace follows it.
        var start = 0
        for (offset, call) in completes {
            #expect(!calls[start..<offset].contains { if case .complete = $0 { true } else { false } })
            #expect(calls[offset] == call)
            start = offset + 1
        }
    }

    @Test func evictedTracesAreConvertedAndSentAgain() async throws {
        let a = rawTrace(stack: 1)
        let b = rawTrace(stack: 2)
        let c = rawTrace(stack: 3)
        // Capacity 2: c evicts a from both caches; b stays.
        let calls = try await handle([a, b, c, a, c], cacheSize: 2)
        #expect(calls.filter { $0 == .convert(a.hash) }.count == 2)
        #expect(calls.filter { $0 == .frames(umHash(a)) }.count == 2)
        #expect(calls.filter { $0 == .convert(c.hash) }.count == 1, "c was still cached")
        #expect(calls.filter { $0 == .frames(umHash(c)) }.count == 1)
    }

    @Test func umCacheSuppressesFramesForTwoRawTracesWithOneConversion() async throws {
        // Two pids, same frames: two BPF hashes, one user-mode hash.
        let a = rawTrace(stack: 5, pid: 1)
        let b = rawTrace(stack: 5, pid: 2)
        #expect(a.hash != b.hash)
        let calls = try await handle([a, b])
        #expect(calls.filter { $0 == .frames(umHash(a)) }.count == 1)
        #expect(calls.filter { $0 == .count(umHash(a), count: 1, apmServiceName: "") }.count == 2)
    }

    @Test func invalidArgumentsAreRejected() {
        let (stream, _) = AsyncStream.makeStream(of: RawTrace.self)
        let log = CallLog()
        #expect(throws: TraceHandlerError.invalidCacheSize(0)) {
            try start(reporter: RecordingReporter(log: log), processor: RecordingProcessor(log: log), traces: stream,
                      times: FixedTimes(monitorInterval: .seconds(1)), cacheSize: 0)
        }
        #expect(throws: TraceHandlerError.invalidMonitorInterval(.zero)) {
            try start(reporter: RecordingReporter(log: log), processor: RecordingProcessor(log: log), traces: stream,
                      times: FixedTimes(monitorInterval: .zero), cacheSize: 1)
        }
        #expect(TraceHandlerError.invalidCacheSize(0).description.contains("cacheSize"))
    }

    @Test func cancellationStopsTheWorkerAndExitCanBeAwaited() async throws {
        let log = CallLog()
        let (stream, continuation) = AsyncStream.makeStream(of: RawTrace.self)
        let worker = try start(
            reporter: RecordingReporter(log: log), processor: RecordingProcessor(log: log), traces: stream,
            times: FixedTimes(monitorInterval: .seconds(3600)), cacheSize: 8)
        continuation.yield(rawTrace(stack: 1))
        #expect(await eventually { log.all.count == 5 })
        worker.cancel()
        await worker.exited()  // the stream never ends: only cancellation can end the worker
        continuation.yield(rawTrace(stack: 2))
        try await Task.sleep(for: .milliseconds(20))
        #expect(log.all.count == 5, "nothing is handled after exit")
    }

    @Test func cancellingTheAwaitingTaskStopsTheWorker() async throws {
        let log = CallLog()
        let (stream, _) = AsyncStream.makeStream(of: RawTrace.self)
        let worker = try start(
            reporter: RecordingReporter(log: log), processor: RecordingProcessor(log: log), traces: stream,
            times: FixedTimes(monitorInterval: .seconds(3600)), cacheSize: 8)
        let waiter = Task { await worker.exited() }
        waiter.cancel()
        await waiter.value
        await worker.exited()
    }

    @Test func cacheCountersArePublishedAndResetEveryInterval() async throws {
        let metrics = TestMetrics()
        let log = CallLog()
        let (stream, continuation) = AsyncStream.makeStream(of: RawTrace.self)
        let worker = try start(
            reporter: RecordingReporter(log: log), processor: RecordingProcessor(log: log), traces: stream,
            times: FixedTimes(monitorInterval: .milliseconds(5)), cacheSize: 8, metricsFactory: metrics)
        let trace = rawTrace(stack: 1)
        for _ in 0..<3 { continuation.yield(trace) }  // 1 BPF miss, 2 hits, 1 UM miss

        func values(_ metric: TraceCacheMetric) -> [Int64] {
            (try? metrics.expectCounter(metric.label).values) ?? []
        }
        // Wait until all three are published, then for two more intervals.
        #expect(await eventually { values(.bpfTraceCacheHit).reduce(0, +) == 2 })
        let published = values(.bpfTraceCacheHit).count
        #expect(await eventually { values(.bpfTraceCacheHit).count >= published + 2 })
        worker.cancel()
        await worker.exited()

        #expect(values(.bpfTraceCacheHit).reduce(0, +) == 2)
        #expect(values(.bpfTraceCacheMiss).reduce(0, +) == 1)
        #expect(values(.umTraceCacheMiss).reduce(0, +) == 1)
        #expect(values(.umTraceCacheHit).reduce(0, +) == 0)
        // Reset: the intervals after the traces publish zero, not the running total.
        #expect(values(.bpfTraceCacheHit).suffix(2) == [0, 0])
        #expect(values(.bpfTraceCacheMiss).suffix(2) == [0, 0])
        var expected = TraceCacheStatistics()
        expected.bpfTraceCacheHit = 2
        expected.bpfTraceCacheMiss = 1
        expected.umTraceCacheMiss = 1
        #expect(worker.statistics() == expected)
    }
}
