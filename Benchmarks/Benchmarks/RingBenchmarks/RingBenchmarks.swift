import Benchmark
import Dispatch

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

    func register<P: RingPayload>(_ payload: P.Type, batch: Int) {
        let name = "Ring \(P.byteCount) B, \(batch == 1 ? "unbatched" : "batch \(batch)")"
        Benchmark(name, configuration: .init(metrics: [swiftRate, cRate, ratio])) { benchmark in
            let transfer = RingTransfer(count: count, batch: batch)
            var cFirst = false
            for _ in benchmark.scaledIterations {
                cFirst.toggle()
                var swiftSeconds = 0.0
                var cSeconds = 0.0
                for language in cFirst ? ["C", "Swift"] : ["Swift", "C"] {
                    let start = DispatchTime.now().uptimeNanoseconds
                    let checksum = language == "C"
                        ? transfer.c(elementSize: P.byteCount, capacity: capacity)
                        : transfer.swift(P.self, capacity: capacity)
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    if checksum != RingTransfer.expectedChecksum(count) {
                        benchmark.error("\(language) ring delivered a wrong checksum \(checksum)")
                    }
                    if language == "C" { cSeconds = seconds } else { swiftSeconds = seconds }
                }
                benchmark.measurement(swiftRate, Int(Double(count) / swiftSeconds / 1e6))
                benchmark.measurement(cRate, Int(Double(count) / cSeconds / 1e6))
                benchmark.measurement(ratio, Int((100 * cSeconds / swiftSeconds).rounded()))
            }
        }
    }

    for batch in [1, 64] {
        register(Payload8.self, batch: batch)
        register(Payload64.self, batch: batch)
        register(Payload256.self, batch: batch)
    }
}
