import Prometheus

/// Running totals the agent's statistics keep, mirrored into a Prometheus registry: a counter
/// grows by what its total grew since the last mirror (a Prometheus counter can only be
/// incremented), a gauge is set. Every series is registered at its first mirror, with its help.
struct CountersMirror {
    let registry: PrometheusCollectorRegistry
    private var counters: [SeriesKey: (counter: Counter, mirrored: UInt64)] = [:]
    private var gauges: [SeriesKey: Gauge] = [:]

    private struct SeriesKey: Hashable {
        var name: String
        var labels: [String]
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// A counter `<name>_total` at `total`. A total below the one last mirrored (which a running
    /// count never is) leaves the counter where it is.
    mutating func count(_ name: String, _ help: String, _ labels: [(String, String)], _ total: UInt64) {
        let key = SeriesKey(name: name, labels: labels.flatMap { [$0.0, $0.1] })
        var entry = counters[key] ?? (registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "total", helpText: help), labels: labels), 0)
        if total > entry.mirrored {
            entry.counter.increment(by: Int64(clamping: total - entry.mirrored))
            entry.mirrored = total
        }
        counters[key] = entry
    }

    mutating func count(_ name: String, _ help: String, _ labels: [(String, String)], _ total: Int) {
        count(name, help, labels, UInt64(clamping: total))
    }

    mutating func count(_ name: String, _ help: String, _ total: UInt64) { count(name, help, [], total) }

    mutating func count(_ name: String, _ help: String, _ total: Int) { count(name, help, [], UInt64(clamping: total)) }

    /// A gauge at `value`.
    mutating func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
        let key = SeriesKey(name: name, labels: labels.flatMap { [$0.0, $0.1] })
        let gauge = gauges[key] ?? registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
        gauges[key] = gauge
        gauge.set(value)
    }

    mutating func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Int) {
        gauge(name, help, labels, Double(value))
    }

    mutating func gauge(_ name: String, _ help: String, _ value: Double) { gauge(name, help, [], value) }

    mutating func gauge(_ name: String, _ help: String, _ value: Int) { gauge(name, help, [], Double(value)) }
}
