import AgentConfiguration
import ArgumentParser
import CLibbpfBaseline
import CommandLineSupport
import Foundation
import KernelPath
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The agent's own CPU per sample on the real path, against the plain C consumer a user would
/// write: CPU hogs keep every CPU busy, the sampler runs at `--frequency` on all of them, and the
/// consumers take turns, each for `--duration` seconds, measured over the steady window
/// [`--from`, `--to`) seconds after sampling starts (start-up and the final write excluded).
///
/// - `agent`: `tracehandler profile` with `unwind.mode=frame-pointers`, the C consumer's stacks;
/// - `agent-dwarf`: the same with the default `unwind.mode=dwarf` (stack snapshots, unwinding);
/// - `agent-bpf`: `agent` with `kernel.aggregation=bpf` (samples counted in the kernel, drained
///   every second);
/// - `c`: libbpf's perf_buffer__poll, kernel names from kallsyms, every sample folded into a
///   string-keyed table (Sources/CLibbpfBaseline/libbpf_fold_consumer.c), in this process.
///
/// The agent's CPU is all its threads' (/proc/PID/task/*/schedstat), read when its progress line
/// for each bound of the window arrives, and its samples are those the sampler took meanwhile (the
/// line's first number: with aggregation, samples reach the agent a drain at a time); the C
/// consumer's CPU is its one thread's, its samples the records it received. Neither includes the
/// sampler's BPF program, which runs in the sampled tasks and is the same program for both.
struct AgentBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Steady CPU per sample of `tracehandler profile` against a plain C libbpf consumer, every CPU busy."
    )

    @Option(help: "The agent to run (default: the tracehandler next to this program).") var agent: String?
    @Option(help: "Rounds; each runs every consumer once, in alternating order.") var rounds = 3
    @Option(help: "Samples a second on each CPU.") var frequency = 9999
    @Option(help: "Seconds each consumer runs.") var duration = 17
    @Option(help: "Start of the measured window, seconds after sampling starts.") var from = 5
    @Option(help: "End of the measured window, seconds after sampling starts.") var to = 15
    @Option(help: "CPU-bound processes to run (default: one per CPU this program may use).") var hogs: Int?
    @Option(help: "Consumers, comma-separated: c, agent, agent-dwarf, agent-bpf.") var consumers = "c,agent,agent-dwarf,agent-bpf"
    @Option(help: "The agent's output formats (output.format).") var format = "folded,pprof,otlp"
    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds \(rounds): at least 1") }
        guard (1...1_000_000).contains(frequency) else { throw ValidationError("--frequency \(frequency): 1 ... 1000000") }
        guard from >= 1, to > from, duration > to, duration <= 3600 else {
            throw ValidationError("--from \(from) --to \(to) --duration \(duration): need 1 ≤ from < to < duration ≤ 3600")
        }
        if let hogs, !(0...1024).contains(hogs) { throw ValidationError("--hogs \(hogs): 0 ... 1024") }
        _ = try AgentBenchConsumer.parse(consumers)
    }

    func run() async throws {
        if let missing = KernelSupport.missingCapability() { throw CommandFailure("cannot run the agent benchmark: \(missing)") }
        let configuration = try await options.load()
        let consumers = try AgentBenchConsumer.parse(consumers)
        let program = try Self.ownPath()
        let agentPath = agent ?? (program.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/tracehandler")
        if consumers.contains(where: { $0 != .c }) {
            guard access(agentPath, X_OK) == 0 else { throw CommandFailure("no agent at \(agentPath): give --agent PATH") }
        }
        let hogCount = hogs ?? WorkerThread.allowedCPUs().count
        let spinners = try (0..<hogCount).map { _ in try ChildProcess([program, "spin"]) }
        defer { for spinner in spinners { spinner.signal(SIGKILL) } }
        print("agent bench: \(hogCount) CPU hogs, \(frequency) Hz on every CPU, \(duration) s a run, measured from \(from) s to \(to) s")

        var results: [AgentBenchConsumer: [AgentBenchRound]] = [:]
        for round in 1...rounds {
            for consumer in round % 2 == 1 ? consumers : consumers.reversed() {
                let result = try consumer == .c
                    ? measureC(output: configuration.kernel)
                    : measureAgent(agentPath, settings: consumer.agentSettings)
                results[consumer, default: []].append(result)
                print("  round \(round) \(pad(consumer.rawValue, 11)) \(result)")
            }
        }
        print("")
        print("consumer     samples/s   CPU % of one CPU   CPU ns/sample (median of \(rounds))")
        for consumer in consumers {
            let median = AgentBenchRound.median(results[consumer]!)
            print(pad(consumer.rawValue, 12) + " " + pad("\(Int(median.samplesPerSecond))", 11) + " "
                + pad(String(format: "%.1f", median.cpuShare * 100), 18) + " \(Int(median.nanosecondsPerSample))")
        }
        guard let anchor = results[.c] else { return }
        for consumer in consumers where consumer != .c {
            let perRound = zip(results[consumer]!, anchor).map { ratio($0.nanosecondsPerSample, $1.nanosecondsPerSample) }
            let median = ratio(AgentBenchRound.median(results[consumer]!).nanosecondsPerSample, AgentBenchRound.median(anchor).nanosecondsPerSample)
            print("\(consumer.rawValue) ÷ c, CPU per sample: \(median) (by round: \(perRound.joined(separator: " ")))")
        }
    }

    /// One run of the agent as a separate process, read through its progress lines.
    private func measureAgent(_ path: String, settings consumerSettings: [String]) throws -> AgentBenchRound {
        let directory = try TemporaryDirectory("tracehandler-agent-bench")
        var arguments = [path, "profile", "--duration", "\(duration)", "--frequency", "\(frequency)", "--format", format,
                         "--output-dir", directory.path + "/out"]
        if let config = options.config { arguments += ["--config", config] }
        for setting in consumerSettings + options.settings { arguments += ["--set", setting] }
        let run = try MeasuredAgentRun(arguments, summaryPath: directory.path + "/summary", from: from, to: to)
        return AgentBenchRound(samples: run.samples, cpuSeconds: run.cpuSeconds, seconds: Double(to - from), lost: run.lost)
    }

    /// One run of the C consumer on a thread of this process, over the same sampler.
    private func measureC(output: KernelOutputConfiguration) throws -> AgentBenchRound {
        var perfBuffers = output
        perfBuffers.kind = .perfBuffer
        perfBuffers.aggregation = .none  // the C consumer reads records
        let sampler = try Sampler.forExternalConsumer(pid: nil, output: perfBuffers)
        defer { sampler.close() }
        var opened: OpaquePointer?
        let status = th_fold_consumer_open(
            sampler.perfEventArrayFD, perfBuffers.perCPUBufferBytes / 4096, UInt32(perfBuffers.effectiveWakeupWatermarkBytes), &opened)
        guard status == 0, let opened else { throw CommandFailure("C consumer: \(String(cString: strerror(-status)))") }
        let consumer = ResultBox(opened)
        defer { th_fold_consumer_close(opened) }
        try sampler.attach(frequency: frequency)
        let started = Self.monotonicNanoseconds()
        let (windowStart, windowEnd) = (started + UInt64(from) * 1_000_000_000, started + UInt64(to) * 1_000_000_000)
        let stop = StopFlag()
        let box = ResultBox(th_fold_consumer_result())
        let thread = try WorkerThread.spawn(name: "th-c-consumer", cpus: nil) {
            box.result = th_fold_consumer_run(consumer.result, windowStart, windowEnd, stop.pointer)
        }
        usleep(UInt32(duration) * 1_000_000)
        sampler.close()
        stop.set()
        thread.join()
        let r = box.result
        guard r.error == 0 else { throw CommandFailure("C consumer: \(String(cString: strerror(-r.error)))") }
        guard r.window_complete == 1 else { throw CommandFailure("the C consumer did not run through \(from)–\(to) s") }
        return AgentBenchRound(samples: r.window_records, cpuSeconds: r.window_cpu_seconds, seconds: Double(to - from), lost: r.lost)
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    static func ownPath() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { throw CommandFailure("cannot read /proc/self/exe") }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

enum AgentBenchConsumer: String, CaseIterable {
    case c, agent, agentDWARF = "agent-dwarf", agentBPF = "agent-bpf"

    /// The `--set` settings that make the agent this consumer.
    var agentSettings: [String] {
        switch self {
        case .c: []
        case .agent: ["unwind.mode=frame-pointers"]
        case .agentDWARF: ["unwind.mode=dwarf"]
        case .agentBPF: ["unwind.mode=frame-pointers", "kernel.aggregation=bpf"]
        }
    }

    static func parse(_ list: String) throws -> [AgentBenchConsumer] {
        let chosen = try list.split(separator: ",").map { name in
            guard let consumer = AgentBenchConsumer(rawValue: String(name)) else {
                throw ValidationError("--consumers: unknown consumer '\(name)' (\(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return consumer
        }
        guard !chosen.isEmpty else { throw ValidationError("--consumers: name at least one of \(allCases.map(\.rawValue).joined(separator: ", "))") }
        return chosen
    }
}

/// One consumer's steady window.
struct AgentBenchRound: CustomStringConvertible {
    let samples: UInt64
    let cpuSeconds: Double
    let seconds: Double
    /// Lost in the kernel over the whole run.
    let lost: UInt64

    var samplesPerSecond: Double { Double(samples) / seconds }
    var cpuShare: Double { cpuSeconds / seconds }
    var nanosecondsPerSample: Double { samples == 0 ? 0 : cpuSeconds * 1e9 / Double(samples) }

    var description: String {
        "\(samples) samples in the window, CPU \(String(format: "%.3f", cpuSeconds)) s (\(String(format: "%.1f", cpuShare * 100)) %), "
            + "\(Int(nanosecondsPerSample)) ns/sample, \(lost) lost in the run"
    }

    static func median(_ rounds: [AgentBenchRound]) -> AgentBenchRound {
        rounds.sorted { $0.nanosecondsPerSample < $1.nanosecondsPerSample }[rounds.count / 2]
    }
}

/// The agent's progress line on standard error: "profiling 5.00 s: 12345 samples taken, …".
struct AgentProgressLine {
    let seconds: Double
    /// Samples the sampler took (sent as records, refused, or counted in the kernel).
    let taken: UInt64

    init?(_ line: String) {
        let afterLabel = line.index(line.startIndex, offsetBy: 10, limitedBy: line.endIndex) ?? line.endIndex
        guard line.hasPrefix("profiling "), let colon = line[afterLabel...].firstRange(of: " s: ") else { return nil }
        guard let seconds = Double(line[afterLabel..<colon.lowerBound]),
            let taken = line[colon.upperBound...].split(separator: " ").first.flatMap({ UInt64($0) })
        else { return nil }
        self.seconds = seconds
        self.taken = taken
    }
}

/// A CPU hog for `tracehandler-bench agent`: spins until killed, through a few call chains of
/// different depths, so that the sampled stacks are more than one frame. It also ends when its
/// parent does (the benchmark killed before it could kill its hogs): it looks every few ms.
struct SpinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spin", abstract: "Spin on one CPU until killed.", shouldDisplay: false)

    func run() {
        let parent = getppid()
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        while getppid() == parent {
            for _ in 0..<256 { seed = spinChain(depth: Int(seed >> 61), seed) }
        }
    }
}

@inline(never)
func spinChain(depth: Int, _ seed: UInt64) -> UInt64 {
    if depth == 0 {
        var value = seed
        for _ in 0..<20_000 { value = value &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407 }
        return value
    }
    return spinChain(depth: depth - 1, seed &+ 1) ^ UInt64(depth)
}
