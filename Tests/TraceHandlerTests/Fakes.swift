import Synchronization
import TraceHandler
import TraceModel

/// Everything the handler asked of the processor and the reporter, in order.
enum Call: Hashable, Sendable {
    case convert(HostTraceHash)
    case notify(HostTraceHash, umHash: TraceHash, count: UInt16)
    case complete(KTime)
    case frames(TraceHash)
    case count(TraceHash, count: UInt16, apmServiceName: String)
    case event(TraceHash, apmServiceName: String)
}

final class CallLog: Sendable {
    private let calls = Mutex<[Call]>([])

    func append(_ call: Call) { calls.withLock { $0.append(call) } }
    var all: [Call] { calls.withLock { $0 } }
}

/// Converts without symbolizing, as the real trivial processor does, and logs each call.
struct RecordingProcessor: TraceProcessor {
    let log: CallLog
    var apmServiceName = ""

    func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String {
        log.append(.notify(rawTrace.hash, umHash: umTraceHash, count: count))
        return apmServiceName
    }

    func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        log.append(.convert(rawTrace.hash))
        trace.assignUnsymbolized(rawTrace)
    }

    func symbolizationComplete(traceCaptureKTime: KTime) { log.append(.complete(traceCaptureKTime)) }
}

struct RecordingReporter: TraceReporter {
    let log: CallLog
    var supportsReportTraceEvent = false

    func reportFramesForTrace(_ trace: Trace) { log.append(.frames(trace.hash)) }

    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        log.append(.count(traceHash, count: count, apmServiceName: meta.apmServiceName))
    }

    func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        log.append(.event(trace.hash, apmServiceName: meta.apmServiceName))
    }
}

/// A raw trace whose stack is `stack` (distinct stacks have distinct BPF and user-mode hashes).
func rawTrace(stack: UInt64, ktime: UInt64 = 1, pid: UInt32 = 100) -> RawTrace {
    try! RawTrace(
        pid: pid, tid: pid, ktime: KTime(rawValue: ktime), comm: Comm("test"),
        userFrames: [Frame(addressOrLine: 0x1000 + stack, type: .native)])
}

/// The user-mode hash the recording processor gives `trace`.
func umHash(_ trace: RawTrace) -> TraceHash { Trace(unsymbolized: trace).hash }

/// Runs a handler over `traces` to the end of the sequence and returns the calls it made.
func handle(_ traces: [RawTrace], cacheSize: UInt32 = 128, supportsReportTraceEvent: Bool = false,
            apmServiceName: String = "") async throws -> [Call] {
    let log = CallLog()
    let (stream, continuation) = AsyncStream.makeStream(of: RawTrace.self)
    for trace in traces { continuation.yield(trace) }
    continuation.finish()
    let worker = try start(
        reporter: RecordingReporter(log: log, supportsReportTraceEvent: supportsReportTraceEvent),
        processor: RecordingProcessor(log: log, apmServiceName: apmServiceName),
        traces: stream, times: FixedTimes(monitorInterval: .seconds(3600)), cacheSize: cacheSize)
    await worker.exited()
    return log.all
}

/// Polls `condition` every millisecond, at most `polls` times; returns whether it became true.
///
/// The budget is counted in polls, not wall-clock time: when other tests keep the cooperative pool
/// busy, this task and the worker it waits for are delayed alike, and no deadline passes meanwhile.
func eventually(polls: Int = 10_000, _ condition: () -> Bool) async -> Bool {
    for _ in 0..<polls {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}
