import AgentConfiguration
import ArgumentParser
import KernelPath
import Symbolization
import Synchronization
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// Profiles the machine: the BPF sampler on every CPU → perf buffers (or the BPF ring buffer) →
/// the poll stage → the engine → folded stacks and/or a pprof profile.
struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Sample every CPU's stacks with BPF and write folded stacks (flamegraph.pl) and/or pprof (go tool pprof)."
    )

    @Option(help: "Seconds to profile (SIGINT or SIGTERM ends it early, keeping what was sampled).")
    var duration = 10.0
    @Option(help: "Only this process (all its threads).") var pid: Int32?
    // These set configuration keys, over --set, the environment and --config.
    @Option(help: "Samples a second on each CPU (sampling.frequency; default 99).") var frequency: Int?
    @Option(help: "Directory for the output files, created if missing (output.dir).") var outputDir: String?
    @Option(help: "Comma-separated: folded (profile.folded, `comm;root;…;leaf count` lines), pprof (profile.pb.gz), otlp (profile.otlp.pb) (output.format).")
    var format: String?
    @Option(help: "perf-buffer (one per CPU) or ring-buffer (kernel.buffer).") var buffer: String?
    @Option(help: "Symbolize workers (symbolize.workers).") var workers: Int?
    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        guard duration > 0, duration <= 86_400 else { throw ValidationError("--duration must be in (0, 86400] seconds") }
        if let pid, pid <= 0 { throw ValidationError("--pid must be positive") }
    }

    /// The command's own flags as configuration settings.
    private var flagSettings: [String] {
        var settings: [String] = []
        if let frequency { settings.append("sampling.frequency=\(frequency)") }
        if let outputDir { settings.append("output.dir=\(outputDir)") }
        if let format { settings.append("output.format=\(format)") }
        if let buffer { settings.append("kernel.buffer=\(buffer)") }
        if let workers { settings.append("symbolize.workers=\(workers)") }
        return settings
    }

    func run() async throws {
        // From the start: a SIGINT while the sampler loads ends the profile as soon as it began,
        // with its (empty) output written, rather than killing the process.
        catchStopSignals()
        defer { restoreStopSignals() }
        if let missing = KernelSupport.missingCapability() {
            throw CommandFailure("cannot profile: \(missing)")
        }
        if let pid, kill(pid, 0) != 0 && errno == ESRCH { throw ValidationError("--pid \(pid): no such process") }
        let configuration = try await options.load(extra: flagSettings)
        let output = configuration.kernel
        let engineConfiguration = configuration.engine
        let frequency = configuration.frequency
        let outputDir = configuration.outputDirectory

        let formats = configuration.outputFormats
        let folded = formats.contains(.folded) ? FoldedStacksReporter() : nil
        let profile = formats.contains(.pprof) || formats.contains(.otlp)
            ? ProfileReporter(samplingPeriod: .nanoseconds(1_000_000_000 / frequency)) : nil
        let reporter = FanOutReporter(([folded, profile] as [(any TraceReporter)?]).compactMap { $0 })
        let symbolizer = try NativeSymbolizer(configuration: configuration.symbolizer, executableReporter: profile)
        let engine = try TraceEngine(configuration: engineConfiguration, processor: symbolizer, reporter: reporter)
        let sampler = try Sampler(frequency: frequency, pid: pid, output: output)
        let poll = try KernelPollStage(buffers: sampler.buffers, configuration: output)
        try engine.start()
        try engine.runSource(name: "th-poll") { source, isStopRequested in
            poll.run(into: source, isStopRequested: isStopRequested)
        }
        print("profiling \(pid.map { "pid \($0)" } ?? "every process") on \(sampler.cpus.count) CPUs at \(frequency) Hz for \(duration) s (\(output.kind.rawValue))")
        fflush(nil)  // all streams: a supervisor (or a test) watching the output knows sampling has begun

        let started = UnixTime64(rawValue: UnixClock.nanoseconds())
        let startedAt = ContinuousClock.now
        var progress = ProgressLine("profiling", every: configuration.monitorInterval)
        let interrupted = await waitForDurationOrSignal(seconds: duration) {
            progress.update {
                let totals = sampler.buffers.totals
                return "\(totals.records) samples received, \(engine.statistics().reported) reported, \(totals.lost) lost"
            }
        }
        progress.end()
        sampler.close()  // no new samples; what is in the buffers is still delivered
        poll.wake()
        await engine.stop()
        let sampled = ContinuousClock.now - startedAt

        try makeDirectory(outputDir)
        printSummary(interrupted: interrupted, sampler: sampler, statistics: engine.statistics())
        if let folded {
            let path = outputDir + "/profile.folded"
            let lines = folded.foldedLines()
            try writeLines(lines, to: path)
            print("wrote \(lines.count) folded stacks to \(path)")
        }
        if let profile, formats.contains(.pprof) {
            let path = outputDir + "/profile.pb.gz"
            try writeBytes(try profile.gzippedPprof(start: started, duration: sampled), to: path)
            print("wrote a pprof profile of \(profile.distinctSampleCount) samples to \(path)")
        }
        if let profile, formats.contains(.otlp) {
            let path = outputDir + "/profile.otlp.pb"
            try writeBytes(profile.encodedOTLP(start: started, duration: sampled), to: path)
            print("wrote an OTLP profile of \(profile.distinctSampleCount) samples to \(path)")
        }
        print("symbolizer: \(symbolizer.statistics())")
    }

    private func printSummary(interrupted: Bool, sampler: Sampler, statistics: EngineStatistics) {
        let counters = sampler.counters()
        let totals = sampler.buffers.totals
        print(interrupted ? "interrupted: stopped early, everything sampled so far was kept" : "done")
        print("samples: \(counters.records) sent by the sampler, \(totals.records) received, \(statistics.reported) reported")
        var lost = "lost: \(totals.lost + counters.outputErrors) in all"
        for (cpu, buffer) in sampler.buffers.statistics() where buffer.lost > 0 || buffer.corrupt > 0 {
            lost += "; " + (cpu.map { "cpu \($0)" } ?? "ring buffer") + " lost \(buffer.lost) corrupt \(buffer.corrupt)"
        }
        if counters.outputErrors > 0 { lost += "; refused by the ring buffer \(counters.outputErrors)" }
        print(lost)
        print("stack errors: kernel \(counters.kernelStackErrors), user \(counters.userStackErrors)")
        print("engine: \(statistics)")
    }
}


/// Set by SIGINT/SIGTERM; the profile loop polls it.
private let stopSignal = Atomic<Bool>(false)

/// Routes SIGINT and SIGTERM to `stopSignal`.
private func catchStopSignals() {
    signal(SIGINT) { _ in stopSignal.store(true, ordering: .relaxed) }
    signal(SIGTERM) { _ in stopSignal.store(true, ordering: .relaxed) }
}

private func restoreStopSignals() {
    signal(SIGINT, SIG_DFL)
    signal(SIGTERM, SIG_DFL)
}

/// Sleeps until `seconds` pass or SIGINT/SIGTERM has arrived, calling `tick` every 20 ms; returns
/// whether a signal ended it.
private func waitForDurationOrSignal(seconds: Double, tick: () -> Void) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if stopSignal.load(ordering: .relaxed) { return true }
        try? await Task.sleep(for: .milliseconds(20))
        tick()
    }
    return stopSignal.load(ordering: .relaxed)
}

/// Creates `path` (and its parents) unless it exists.
func makeDirectory(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw ValidationError("cannot create directory \(prefix): \(String(cString: strerror(errno)))")
        }
    }
}
