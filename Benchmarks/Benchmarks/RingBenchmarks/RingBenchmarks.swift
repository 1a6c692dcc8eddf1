import Benchmark
import RingWorkloads

// The Swift SPSCRing against the C11 baseline ring (same algorithm), for 8, 64 and 256-byte
// elements, one element at a time and in batches of 64, 1 Mi elements per iteration through a
// 4096-slot ring, producer and consumer pinned to different CPUs.
//
// Each iteration runs both rings, alternating which goes first, so the ratio compares the two
// under the same machine conditions. Custom metrics: the throughput of each (M elements/s) and
// Swift ÷ C in percent (≥ 95 is the target).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [],
        warmupIterations: 2,
        maxDuration: .seconds(3),
        maxIterations: 25
    )
    let swiftRate = BenchmarkMetric.custom("Swift M elements/s", polarity: .prefersLarger, useScalingFactor: false)
    let cRate = BenchmarkMetric.custom("C M elements/s", polarity: .prefersLarger, useScalingFactor: false)
    let ratio = BenchmarkMetric.custom("Swift ÷ C %", polarity: .prefersLarger, useScalingFactor: false)
    let count: UInt64 = 1 << 20
    let capacity = 4096

    func register(elementSize: Int, batch: Int) {
        let name = "Ring \(elementSize) B, \(batch == 1 ? "unbatched" : "batch \(batch)")"
        Benchmark(name, configuration: .init(metrics: [swiftRate, cRate, ratio])) { benchmark in
            let transfer = RingTransfer(count: count, batch: batch)
            var cFirst = false
            for _ in benchmark.scaledIterations {
                cFirst.toggle()
                switch transfer.race(elementSize: elementSize, capacity: capacity, cFirst: cFirst) {
                case .failure(let wrong):
                    benchmark.error("\(wrong)")
                case .success(let seconds):
                    benchmark.measurement(swiftRate, Int(Double(count) / seconds.swift / 1e6))
                    benchmark.measurement(cRate, Int(Double(count) / seconds.c / 1e6))
                    benchmark.measurement(ratio, Int((100 * seconds.c / seconds.swift).rounded()))
                }
            }
        }
    }

    for batch in [1, 64] {
        for elementSize in RingTransfer.elementSizes { register(elementSize: elementSize, batch: batch) }
    }
}
