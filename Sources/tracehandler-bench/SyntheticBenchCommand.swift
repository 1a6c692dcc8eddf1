import AgentConfiguration
import ArgumentParser
import CommandLineSupport
import Foundation
import LinuxSystem
import TraceEngine

/// `tracehandler-bench synthetic`: generated traces through the real stages (or the serial
/// loop), at a fixed offered rate or flat out, with a CPU-bound stand-in for symbolization.
struct SyntheticBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic",
        abstract: "Throughput, drops and latency of the staged engine and the serial loop on synthetic traces."
    )

    @OptionGroup var workload: WorkloadOptions
    @Option(help: "staged, serial, or both (same run; prints staged ÷ serial).") var topology: Topology = .both
    @Option(help: "Rounds, each running the topologies in turn; with both, the median ratio is printed (a shared machine's noise moves single runs).")
    var rounds = 1
    @Flag(help: "Print the results as JSON instead of a table.") var json = false
    @OptionGroup var options: ConfigurationOptions

    enum Topology: String, ExpressibleByArgument { case staged, serial, both }

    func validate() throws {
        guard (1...100).contains(rounds) else { throw ValidationError("--rounds must be in 1...100") }
    }

    func run() async throws {
        let configuration = try await options.load()
        let workload = self.workload.make(configuration)
        let traces = try SyntheticBench.traces(workload)
        var results: [SyntheticResult] = []
        for round in 1...rounds {
            let label = rounds > 1 ? "round \(round) of \(rounds): " : ""
            if topology != .serial {
                if !json { print("\(label)running staged for \(workload.duration) s …") }
                var result = try SyntheticBench.runStaged(workload, traces: traces, engine: configuration.engine, progress: configuration.monitorInterval)
                result.round = round
                results.append(result)
            }
            if topology != .staged {
                if !json { print("\(label)running serial for \(workload.duration) s …") }
                var result = try SyntheticBench.runSerial(workload, traces: traces, cacheSize: configuration.engine.cacheSize, progress: configuration.monitorInterval)
                result.round = round
                results.append(result)
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        } else {
            printTable(results, workload: workload)
        }
        if let failed = results.first(where: { !$0.conserved }) {
            throw CommandFailure("conservation failed for the \(failed.topology) topology: offered \(failed.offered) ≠ produced \(failed.produced) + kernel lost \(failed.kernelLost), or produced ≠ reported + drops")
        }
    }
}

/// The workload flags shared by `synthetic` and `sweep`.
struct WorkloadOptions: ParsableArguments {
    @Option(help: "Seconds each topology runs.") var duration = 2.0
    @Option(help: "Offered traces a second (0: flat out).") var rate = 0
    @Flag(help: "Offer in bursts: every 500 ms, 50 ms at 10× the rate.") var burst = false
    @Option(help: "Distinct stacks.") var distinct = 1024
    @Option(help: "Zipf exponent of stack popularity (0: uniform).") var zipf = 1.0
    @Option(help: "User frames per trace.") var depth = 16
    @Option(help: "Processes the stacks belong to.") var pids = 8
    @Option(name: .customLong("symbolize-cost-us"), help: "CPU microseconds each conversion (cache miss) costs.")
    var symbolizeCostMicroseconds = 0.0

    func make(_ configuration: AgentConfiguration) -> SyntheticWorkload {
        let recordBytes = 64 + 24 * (depth + 2)
        let kernelBytes = configuration.kernel.perCPUBufferBytes * max(1, WorkerThread.allowedCPUs().count)
        return SyntheticWorkload(
            duration: duration, rate: rate, bursty: burst, distinct: distinct, zipf: zipf, depth: depth, processes: pids,
            symbolizeCostMicroseconds: symbolizeCostMicroseconds, kernelBufferTraces: kernelBytes / recordBytes)
    }

    func validate() throws {
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard rate >= 0 else { throw ValidationError("--rate must be 0 or more") }
        guard distinct >= 1, depth >= 1, depth <= 120, pids >= 1 else { throw ValidationError("--distinct, --pids ≥ 1; --depth 1…120") }
        guard symbolizeCostMicroseconds >= 0 else { throw ValidationError("--symbolize-cost-us must be 0 or more") }
    }
}

func printTable(_ results: [SyntheticResult], workload: SyntheticWorkload) {
    print("workload: \(workload.distinct) stacks (zipf \(workload.zipf)), depth \(workload.depth), \(workload.processes) pids, "
        + "rate \(workload.rate == 0 ? "flat out" : "\(workload.rate)/s\(workload.bursty ? " in bursts" : "")"), "
        + "symbolize cost \(workload.symbolizeCostMicroseconds) µs, kernel buffer \(workload.kernelBufferTraces) traces")
    let manyRounds = results.contains { $0.round > 1 }
    for result in results {
        print("")
        print("\(result.topology)\(manyRounds ? " (round \(result.round))" : ""): \(Int(result.achievedPerSecond)) traces/s reported (offered \(Int(result.offeredPerSecond))/s) "
            + "over \(rounded(result.seconds)) s")
        print("  offered \(result.offered) = produced \(result.produced) + kernel lost \(result.kernelLost); "
            + "reported \(result.reported); conserved: \(result.conserved ? "yes" : "NO")")
        print("  drops: " + (result.drops.isEmpty ? "none" : result.drops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        print("  latency µs: p50 \(rounded(result.latencyMicroseconds.p50)), p99 \(rounded(result.latencyMicroseconds.p99)), "
            + "p99.9 \(rounded(result.latencyMicroseconds.p999)), max \(rounded(result.latencyMicroseconds.max))")
        print("  per stage /s: " + result.stageThroughputPerSecond.sorted { $0.key < $1.key }.map { "\($0.key) \(Int($0.value))" }.joined(separator: ", "))
        if !result.ringHighWaterMarks.isEmpty {
            print("  ring high-water: " + result.ringHighWaterMarks.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        print("  CPU s: " + result.threadCPUSeconds.sorted { $0.key < $1.key }.map { "\($0.key) \(rounded($0.value))" }.joined(separator: ", ")
            + "; peak RSS \(Int(result.peakRSSMebibytes)) MiB; allocations per trace \(String(format: "%.4f", result.allocationsPerTrace))"
                + " (\(String(format: "%.4f", result.steadyAllocationsPerTrace)) in the second half)")
    }
    let staged = results.filter { $0.topology == "staged" }
    let serial = results.filter { $0.topology == "serial" }
    guard !staged.isEmpty, staged.count == serial.count else { return }
    print("")
    if staged.count == 1 {
        print("staged ÷ serial: \(ratio(staged[0].achievedPerSecond, serial[0].achievedPerSecond)) traces/s")
        return
    }
    let ratios = zip(staged, serial).map { $0.achievedPerSecond / $1.achievedPerSecond }
    for (round, (a, b)) in zip(staged, serial).enumerated() {
        print("round \(round + 1): staged \(Int(a.achievedPerSecond))/s, serial \(Int(b.achievedPerSecond))/s, "
            + "staged ÷ serial \(rounded(ratios[round]))×")
    }
    let sorted = ratios.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    print("staged ÷ serial over \(ratios.count) rounds: median \(rounded(median))×, range \(rounded(sorted.first!))× … \(rounded(sorted.last!))×")
}
