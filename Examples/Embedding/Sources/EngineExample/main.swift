import Synchronization
import TraceProfiler

/// A source: traces of 50 distinct stacks in one process, as a BPF sampler would send them.
struct GeneratedTraces: TraceSource {
    var count: Int

    func run(into source: EngineSource, isStopRequested: () -> Bool) {
        for i in 0..<count where !isStopRequested() {
            let leaf = Frame(addressOrLine: 0x1000 + UInt64(i % 50) * 16, type: .native)
            let main = Frame(addressOrLine: 0x9000, type: .native)
            guard let trace = try? RawTrace(
                pid: 42, tid: 42, ktime: KTime(rawValue: UInt64(i) + 1), comm: Comm("example"), userFrames: [leaf, main])
            else { continue }
            source.emit(trace)
        }
    }
}

/// A processor: names every frame after its address (a real one reads symbol tables).
struct AddressNamer: TraceProcessor {
    func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        trace.removeAll(keepingCapacity: true)
        rawTrace.withFrames { frames in
            for frame in frames {
                trace.append(
                    file: FileID(frame.fileID), lineno: frame.addressOrLine, type: frame.type,
                    symbol: "fn_\(String(frame.addressOrLine, radix: 16))")
            }
        }
    }
}

/// A reporter: samples per stack, each stack's frames by name.
final class StackCounter: TraceReporter {
    private let state = Mutex<(stacks: [TraceHash: String], counts: [TraceHash: Int])>(([:], [:]))

    func reportFramesForTrace(_ trace: Trace) {
        let names = trace.symbols.reversed().map { $0 ?? "?" }.joined(separator: ";")
        state.withLock { $0.stacks[trace.hash] = names }
    }

    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        state.withLock { $0.counts[traceHash, default: 0] += Int(count) }
    }

    /// `root;…;leaf count` lines, most samples first.
    func folded() -> [String] {
        state.withLock { state in
            state.counts.sorted { $0.value > $1.value }.map { "\(state.stacks[$0.key] ?? "[unknown]") \($0.value)" }
        }
    }
}

var configuration = EngineConfiguration()
configuration.symbolizeWorkers = 2
configuration.symbolize.policy = .block  // every trace symbolized: wait rather than degrade
let reporter = StackCounter()
let engine = try StagedEngine(configuration: configuration, processor: AddressNamer(), reporter: reporter)
let statistics = try await engine.run(source: GeneratedTraces(count: 100_000))

let lines = reporter.folded()
for line in lines.prefix(3) { print(line) }
print(statistics)
guard statistics.isConserved, statistics.reported == 100_000, lines.count == 50 else {
    fatalError("unexpected result")
}

// The same processor and reporter on the Go-shaped handler, over an AsyncSequence.
let (rawTraces, continuation) = AsyncStream.makeStream(of: RawTrace.self)
for i in 0..<1_000 {
    continuation.yield(try RawTrace(pid: 7, tid: 7, comm: Comm("go-shaped"), userFrames: [Frame(addressOrLine: UInt64(i % 10), type: .native)]))
}
continuation.finish()
let goShaped = StackCounter()
let worker = try TraceHandler.start(
    reporter: goShaped, processor: AddressNamer(), traces: rawTraces,
    times: FixedTimes(monitorInterval: .seconds(5)), cacheSize: 16_384)
await worker.exited()
guard goShaped.folded().count == 10 else { fatalError("the Go-shaped handler reported \(goShaped.folded())") }
print("Go-shaped handler: \(worker.statistics())")
