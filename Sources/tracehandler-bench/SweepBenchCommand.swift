import ArgumentParser
import CommandLineSupport
import Foundation
import LinuxSystem
import TraceEngine

/// `tracehandler-bench sweep`: the synthetic scenario (staged) over a grid of symbolize-ring
/// capacities × policies × offered rates, one line each: the table to choose settings from.
struct SweepBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run the synthetic scenario over ring capacities × policies × offered rates and tabulate the results."
    )

    @OptionGroup var workload: WorkloadOptions
    @Option(help: "Capacities of the symbolize rings (comma-separated powers of two).") var capacities = "64,1024"
    @Option(help: "Policies of the symbolize edge (block, drop, degrade; comma-separated).") var policies = "block,drop,degrade"
    @Option(help: "Offered rates in traces/s (comma-separated; 0 = flat out).") var rates = "100000,1000000"
    @Flag(help: "Print the results as JSON instead of a table.") var json = false
    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let base = try await options.load()
        var rows: [SweepRow] = []
        if !json { print(Self.header) }
        for capacity in try list(capacities, "--capacities") {
            for policy in try policyList() {
                for rate in try list(rates, "--rates") {
                    var configuration = base
                    configuration.engine.symbolize = EdgeConfiguration(capacity: capacity, policy: policy)
                    try configuration.engine.validate(allowedCPUs: WorkerThread.allowedCPUs())
                    var load = workload.make(configuration)
                    load.rate = rate
                    let traces = try SyntheticBench.traces(load)
                    let result = try SyntheticBench.runStaged(load, traces: traces, engine: configuration.engine, progress: configuration.monitorInterval)
                    let degraded = result.drops.filter { $0.key.hasSuffix("degraded") }.values.reduce(0, +)
                    let row = SweepRow(capacity: capacity, policy: policy.rawValue, result: result, degraded: degraded,
                                       drops: result.drops.values.reduce(0, +) - degraded)
                    rows.append(row)
                    if !json { print(row.line) }
                    guard result.conserved else { throw CommandFailure("conservation failed: \(result)") }
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        }
    }

    static let header: String = {
        let columns: [(String, Int)] = [
            ("capacity", 9), ("policy", 8), ("offered/s", 11), ("reported/s", 11), ("kernel lost", 12), ("drops", 9),
            ("degraded", 9), ("p50 µs", 10), ("p99 µs", 10), ("p99.9 µs", 10),
        ]
        return columns.map { pad($0.0, $0.1) }.joined() + "high-water out of source/hash-cache/symbolize-0"
    }()

    private func policyList() throws -> [BackpressurePolicy] {
        try policies.split(separator: ",").map { text in
            guard let policy = BackpressurePolicy(rawValue: String(text)) else { throw ValidationError("--policies: unknown policy \(text)") }
            return policy
        }
    }

    private func list(_ text: String, _ flag: String) throws -> [Int] {
        try text.split(separator: ",").map { part in
            guard let value = Int(part) else { throw ValidationError("\(flag): \(part) is not a number") }
            return value
        }
    }
}

struct SweepRow: Codable {
    var capacity: Int
    var policy: String
    var result: SyntheticResult
    var degraded: UInt64
    var drops: UInt64

    var line: String {
        let marks = ["source", "hash-cache", "symbolize-0"].map { "\(result.ringHighWaterMarks[$0] ?? 0)" }.joined(separator: "/")
        let latency = result.latencyMicroseconds
        let cells: [(String, Int)] = [
            ("\(capacity)", 9), (policy, 8), ("\(Int(result.offeredPerSecond))", 11), ("\(Int(result.achievedPerSecond))", 11),
            ("\(result.kernelLost)", 12), ("\(drops)", 9), ("\(degraded)", 9), (rounded(latency.p50), 10),
            (rounded(latency.p99), 10), (rounded(latency.p999), 10),
        ]
        return cells.map { pad($0.0, $0.1) }.joined() + marks
    }
}
