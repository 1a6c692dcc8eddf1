import CoreMetrics
import Synchronization

/// Publishes the engine's counters through swift-metrics (whatever backend the program
/// bootstrapped: `MetricsSystem.bootstrap`, e.g. swift-prometheus): one `Counter`
/// `tracehandler_engine_<counter>` per stage and counter (dimension `stage`), incremented by what
/// each stage counted since the last publication, and one `Gauge`
/// `tracehandler_engine_ring_high_water` per stage. The structured runs publish every
/// `interval` while the engine runs, and once more after it drained.
final class EngineMetrics: Sendable {
    private let factory: any MetricsFactory
    private let published = Mutex<[Key: Published]>([:])
    private let highWater = Mutex<[String: Gauge]>([:])

    private struct Key: Hashable {
        var stage: String
        var counter: EngineCounter
    }

    private struct Published {
        var counter: Counter
        var value: UInt64
    }

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// Increments each counter by its growth since the last call.
    func publish(_ statistics: EngineStatistics) {
        published.withLock { published in
            for stage in statistics.stages {
                let name = "\(stage.stage)"
                for (counter, value) in stage.counts where value > 0 {
                    let key = Key(stage: name, counter: counter)
                    var entry = published[key] ?? Published(
                        counter: Counter(label: "tracehandler_engine_\(counter)_total", dimensions: [("stage", name)], factory: factory),
                        value: 0)
                    if value > entry.value {
                        entry.counter.increment(by: Int64(clamping: value - entry.value))
                        entry.value = value
                    }
                    published[key] = entry
                }
            }
        }
        highWater.withLock { gauges in
            for stage in statistics.stages {
                let name = "\(stage.stage)"
                let gauge = gauges[name] ?? Gauge(label: "tracehandler_engine_ring_high_water", dimensions: [("stage", name)], factory: factory)
                gauges[name] = gauge
                gauge.record(Int64(stage.outputHighWaterMark))
            }
        }
    }
}
