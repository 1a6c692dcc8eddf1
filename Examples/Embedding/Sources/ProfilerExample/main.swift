import Synchronization
import TraceProfiler

/// Counts samples by process name.
final class SamplesByProcess: TraceReporter {
    let counts = Mutex<[String: Int]>([:])

    func reportFramesForTrace(_ trace: Trace) {}

    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        counts.withLock { $0[meta.comm.description, default: 0] += Int(count) }
    }
}

var configuration = ProfilerConfiguration()
configuration.frequency = 999
let reporter = SamplesByProcess()
let profiler = try Profiler(configuration: configuration, reporter: reporter)

let profile = Task { try await profiler.profile() }
try await Task.sleep(for: .seconds(2))
profile.cancel()  // stops sampling; what was sampled is still delivered
let statistics = try await profile.value

let counts = reporter.counts.withLock { $0 }
for (process, samples) in counts.sorted(by: { $0.value > $1.value }).prefix(5) {
    print("\(samples)\t\(process)")
}
print(statistics)
guard statistics.isConserved, counts.values.reduce(0, +) == Int(statistics.engine.reported) else {
    fatalError("samples went unaccounted")
}
