import Benchmark
import CHitLoop
import SyntheticTraces
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

// The engine end to end with a trivial processor (frames kept as raw addresses) and a counting
// reporter, fed from pre-encoded records so that only the engine is measured. One scaled
// iteration is one trace: throughput is traces/s, and the malloc count is per million traces.
//
// - cache-hit path: 1024 distinct stacks, cache of 16384: after the first sight, every trace
//   is a BPF-cache hit and reaches the reporter as a count.
// - all-miss path: 8192 distinct stacks round-robin through caches of 4096: every trace misses
//   both caches, is converted, and its frames and count are reported.
// - The same workloads through the Go-shaped handler loop (`TraceHandlerCore`) on one thread, so
//   the staged engine's speed-up is a ratio measured in the same run.
// - The hit path's work as a plain C loop on one thread (Sources/CHitLoop: copy, XXH3, LRU
//   lookup, count), the anchor the engine's hit path is compared with.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .cpuTotal, .mallocCountTotal],
        warmupIterations: 1,
        scalingFactor: .mega,
        maxDuration: .seconds(10),
        maxIterations: 8
    )

    for workload in EngineWorkload.all {
        Benchmark("Engine, \(workload.name)") { benchmark in
            let result = workload.runEngine(traces: benchmark.scaledIterations.count, measuring: benchmark)
            if let failure = result { benchmark.error(failure) }
        }
        guard workload.hashCacheThread == .own else { continue }  // the serial loop has no such choice
        Benchmark("Serial handler loop, \(workload.name)") { benchmark in
            workload.runSerial(traces: benchmark.scaledIterations.count, measuring: benchmark)
        }
    }
    let hits = EngineWorkload.all[0]
    Benchmark("C loop, \(hits.name)") { benchmark in
        if let failure = hits.runCLoop(traces: benchmark.scaledIterations.count, measuring: benchmark) { benchmark.error(failure) }
    }
}
