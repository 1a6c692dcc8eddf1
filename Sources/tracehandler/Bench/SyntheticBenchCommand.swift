import AgentConfiguration
import ArgumentParser
import Foundation
import LinuxSystem
import TraceEngine

/// `tracehandler bench synthetic`: generated traces through the real stages (or the serial
/// loop), at a fixed offered rate or flat out, with a CPU-bound stand-in for symbolization.
struct SyntheticBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic",
        abstract: "Throughput, drops and latency of the staged engine and the serial loop on synthetic traces."
    )

    @OptionGroup var workload: WorkloadOptions
    @Option(help: "staged, serial, or both (same run; prints staged ÷ serial).") var topology: Topology = .both
    @Flag(help: "Print the results as JSON instead of a table.") var json = false
    @OptionGroup var options: ConfigurationOptions

    enum Topology: String, ExpressibleByArgument { case staged, serial, both }

    func run() async throws {
        let configuration = try await options.load()
        let workload = self.workload.make(configuration)
        let traces = try SyntheticBench.traces(workload)
        var results: [SyntheticResult] = []
        if topology != .serial {
            if !json { print("running staged for \(workload.duration) s …") }
            results.append(try SyntheticBench.runStaged(workload, traces: traces, engine: configuration.engine))
        }
        if topology != .staged {
            if !json { print("running serial for \(workload.duration) s …") }
            results.append(try SyntheticBench.runSerial(workload, traces: traces, cacheSize: configuration.engine.cacheSize))
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
    for result in results {
        print("")
        print("\(result.topology): \(Int(result.achievedPerSecond)) traces/s reported (offered \(Int(result.offeredPerSecond))/s) "
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
            + "; peak RSS \(Int(result.peakRSSMebibytes)) MiB")
    }
    if results.count == 2 {
        print("")
        print("staged ÷ serial: \(ratio(results[0].achievedPerSecond, results[1].achievedPerSecond)) traces/s")
    }
}

func rounded(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    return "\(hundredths / 100).\(String(format: "%02d", abs(hundredths % 100)))"
}
