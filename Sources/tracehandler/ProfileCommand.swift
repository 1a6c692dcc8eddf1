import AgentConfiguration
import ArgumentParser
import CommandLineSupport
import KernelPath
import LinuxSystem
import Logging
import ProfileExport
import SelfMetrics
import Symbolization
import Synchronization
import TraceEngine
import TraceHandler
import TraceModel
import TraceProfiler
import TraceReporters

#if NetworkExport
import OTLPGRPCExport
#endif

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

    @Option(help: ArgumentHelp(
        "Seconds to profile, then write one profile (SIGINT or SIGTERM ends it early, keeping what was sampled).",
        discussion: "Without it the profile is continuous: files for each report.interval (default 5 s), until SIGINT or SIGTERM."))
    var duration: Double?
    @Option(help: "Only this process (all its threads).") var pid: Int32?
    @Option(help: ArgumentHelp(
        "cpu, off-cpu, or cpu,off-cpu (sampling.mode; default cpu).",
        discussion: "off-cpu records where tasks wait and for how long (offcpu.*): folded stacks in microseconds (profile.off-cpu.folded), off_cpu/nanoseconds in pprof and OTLP."))
    var mode: String?
    // These set configuration keys, over --set, the environment and --config.
    @Option(help: "Samples a second on each CPU (sampling.frequency; default 99).") var frequency: Int?
    @Option(help: "Directory for the output files, created if missing (output.dir).") var outputDir: String?
    @Option(help: "Comma-separated: folded (profile.folded, `comm;root;…;leaf count` lines), pprof (profile.pb.gz), otlp (profile.otlp.pb) (output.format).")
    var format: String?
    @Option(help: "perf-buffer (one per CPU) or ring-buffer (kernel.buffer).") var buffer: String?
    @Option(help: "Symbolize workers (symbolize.workers).") var workers: Int?
    @Option(help: ArgumentHelp(
        "Export each interval of a continuous profile to an OTLP/gRPC receiver: otlp://HOST:PORT or otlps://HOST:PORT (output.otlp.endpoint).",
        discussion: "Files are then written only if --format is given."))
    var export: String?
    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        if let duration, !(duration > 0 && duration <= 86_400) { throw ValidationError("--duration must be in (0, 86400] seconds") }
        if let pid, pid <= 0 { throw ValidationError("--pid must be positive") }
    }

    /// The command's own flags as configuration settings.
    private var flagSettings: [String] {
        var settings: [String] = []
        if let mode { settings.append("sampling.mode=\(mode)") }
        if let frequency { settings.append("sampling.frequency=\(frequency)") }
        if let outputDir { settings.append("output.dir=\(outputDir)") }
        if let format { settings.append("output.format=\(format)") }
        if let buffer { settings.append("kernel.buffer=\(buffer)") }
        if let workers { settings.append("symbolize.workers=\(workers)") }
        if let export {
            settings.append("output.otlp.endpoint=\(export)")
            if format == nil { settings.append("output.format=none") }
        }
        return settings
    }

    func run() async throws {
        // From the start: a SIGINT while the sampler loads ends the profile as soon as it began,
        // with its (empty) output written, rather than killing the process.
        try catchStopSignals()
        defer { restoreStopSignals() }
        // Symbol and unwind tables are built in bursts on the worker threads: what a burst frees
        // goes back to the kernel instead of staying in their arenas (design/export.md).
        HeapTuning.mapLargeBlocks()
        if let missing = KernelSupport.missingCapability() {
            throw CommandFailure("cannot profile: \(missing)")
        }
        if let pid { try checkIsProcess(pid) }
        var configuration = try await options.load(extra: flagSettings)
        configuration.pid = pid
        try MetricsServing.checkAvailable(configuration.metricsListen)
        if configuration.hangup == .ignore { signal(SIGHUP, SIG_IGN) }
        let outputDir = configuration.outputDirectory
        let formats = configuration.outputFormats
        if configuration.export.endpoint != nil && duration != nil {
            throw CommandFailure("output.otlp.endpoint exports the intervals of a continuous profile: leave out --duration")
        }
        if formats.isEmpty && (duration != nil || configuration.export.endpoint == nil) {
            throw CommandFailure("output.format = none writes nothing: it needs a continuous profile (no --duration) with output.otlp.endpoint")
        }
        // Checked (and locked) before sampling: a location that cannot take the results must
        // not cost a whole profile to find out.
        var outputs: OutputDirectory?
        if !formats.isEmpty {
            do {
                outputs = try OutputDirectory(path: outputDir)
            } catch {
                throw CommandFailure("cannot write the profile into \(error)")
            }
        }

        let bound = ProfileBound(maximumStacks: configuration.maximumStacks)
        let period = Duration.nanoseconds(1_000_000_000 / configuration.frequency)
        // The summary says what the library would log; only its warnings and errors on stderr.
        var logger = Logger(label: "tracehandler")
        logger.logLevel = .warning
        guard let duration else {
            let exporter = try await makeExporter(configuration.export)
            let intervals = IntervalOutputs(outputs: outputs, formats: formats, origins: configuration.modes, exporter: exporter?.exporter)
            // Frames outlive the engine's two caches (`cache.size` each): a trace it still
            // counts has its frames here.
            let reporter = IntervalProfileReporter(
                samplingPeriod: period, bound: bound, retainedTraces: 2 * configuration.engine.cacheSize, origins: configuration.modes,
                onInterval: intervals.take)
            let profiled: (ProfileStatistics, Int32?)
            var serving: MetricsServing?
            defer { serving?.stop() }
            do {
                let profiler = try makeProfiler(configuration, reporter, logger)
                serving = try await MetricsServing.start(configuration.metricsListen) { [exporter = exporter?.exporter] in
                    MetricsServing.snapshot(profiler.statistics(), export: exporter?.statistics, intervals: reporter.totals)
                }
                profiled = try await sample(with: profiler, configuration, until: nil)
            } catch {
                // What was queued (a spool read back at start, intervals already ended) is spooled
                // or counted, not lost with the run.
                if let exported = await exporter?.finish() { print("export: \(exported)") }
                throw error
            }
            let (statistics, stop) = profiled
            print("stopped by \(signalName(stop)): the last interval was handed on")
            let exported = await exporter?.finish()
            printSummary(statistics)
            let totals = reporter.totals
            print("intervals: \(totals.intervals) ended, \(intervals.writtenCount) written whole; \(totals.samples) samples in them"
                + " (\(totals.overflowSamples) in [overflow], \(totals.unknownTraceSamples) of unknown trace)")
            if configuration.modes.contains(.offCPU) {
                print("off-CPU time reported: \(totals.offCPUTime) ns in \(totals.offCPUSamples) blocks")
            }
            if let exported { print("export: \(exported)") }
            printTail(statistics)
            let failures = intervals.failures
            if !failures.isEmpty { throw CommandFailure("could not write " + failures.joined(separator: "; ")) }
            return
        }
        guard let outputs else { throw CommandFailure("no output directory") }

        // One reporter for every format: each sample is counted once, each new trace's frames
        // interned once, and the folded lines are rendered from the same counts at the end.
        let reporter = ProfileReporter(samplingPeriod: period, bound: bound, origins: configuration.modes)
        let profiler = try makeProfiler(configuration, reporter, logger)
        let serving = try await MetricsServing.start(configuration.metricsListen) { MetricsServing.snapshot(profiler.statistics()) }
        defer { serving?.stop() }
        let (statistics, interrupted) = try await sample(with: profiler, configuration, until: duration)
        let (started, sampled) = (statistics.startTime, statistics.duration)

        print(interrupted != nil ? "interrupted: stopped early, everything sampled so far was kept" : "done")
        printSummary(statistics)
        // Every format is attempted; each failure is reported, and any makes the run fail.
        var failures: [String] = []
        func attempt(_ format: OutputFormat, _ name: String, _ write: () throws -> String) {
            do {
                print("wrote \(try write()) to \(outputDir)/\(name)")
            } catch {
                failures.append("\(format.rawValue): \(error)")
            }
        }
        // Folded stacks of each origin apart: flamegraph.pl sums one unit, samples or microseconds.
        for origin in configuration.modes.origins where formats.contains(.folded) {
            let name = origin == .sampling ? "profile.folded" : "profile.off-cpu.folded"
            attempt(.folded, name) {
                let stacks = reporter.foldedStacks(origin: origin)
                try outputs.write(name) { (writer: inout OutputWriter) throws(OutputDirectoryError) in
                    for (stack, count) in stacks { try writer.append(line: "\(stack) \(count)") }
                }
                return "\(stacks.count) folded stacks" + (origin == .offCPU ? " (microseconds off the CPU)" : "")
            }
        }
        if formats.contains(.pprof) {
            attempt(.pprof, "profile.pb.gz") {
                try outputs.write("profile.pb.gz", bytes: try reporter.gzippedPprof(start: started, duration: sampled))
                return "a pprof profile of \(reporter.sampleCount) samples (\(reporter.distinctSampleCount) distinct stacks)"
            }
        }
        if formats.contains(.otlp) {
            attempt(.otlp, "profile.otlp.pb") {
                try outputs.write("profile.otlp.pb", bytes: reporter.encodedOTLP(start: started, duration: sampled))
                return "an OTLP profile of \(reporter.sampleCount) samples (\(reporter.distinctSampleCount) distinct stacks)"
            }
        }
        if configuration.modes.contains(.offCPU) {
            let (blocks, time) = reporter.offCPUTotals
            print("off-CPU time reported: \(time) ns in \(blocks) blocks")
        }
        printTail(statistics)
        if !failures.isEmpty {
            throw CommandFailure("could not write " + failures.joined(separator: "; "))
        }
        // Everything was written, but the profile is shorter than asked: a script can tell by the
        // status a shell gives a command ended by that signal (130 for SIGINT).
        if let interrupted { throw ExitCode(128 + interrupted) }
    }

    /// The exporter of `output.otlp.endpoint`, or nil without one; `finish` drains it (within
    /// `export.shutdown-timeout`) and closes its connection.
    private func makeExporter(_ configuration: ExportConfiguration) async throws -> (exporter: ProfileExporter, finish: () async -> ExportStatistics)? {
        guard let endpoint = configuration.endpoint else { return nil }
        #if NetworkExport
        do {
            let transport = try OTLPGRPCTransport(
                endpoint: endpoint, certificateAuthorityFile: configuration.certificateAuthorityFile, gzip: configuration.gzip)
            let exporter: ProfileExporter
            do {
                exporter = try ProfileExporter(configuration: configuration, transport: transport)
            } catch {
                await transport.close()
                throw error
            }
            return (exporter, {
                let statistics = await exporter.shutdown()
                await transport.close()
                IntervalOutputs.printSettled(exporter)
                return statistics
            })
        } catch {
            throw CommandFailure("cannot export to \(endpoint): \(error)")
        }
        #else
        throw CommandFailure("output.otlp.endpoint: this tracehandler was built without its NetworkExport trait (swift build --traits NetworkExport)")
        #endif
    }

    private func makeProfiler<Reporter: TraceReporter>(
        _ configuration: AgentConfiguration, _ reporter: Reporter, _ logger: Logger
    ) throws -> Profiler<Reporter> {
        do {
            return try Profiler(configuration: configuration.profiler, reporter: reporter, logger: logger)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// Samples until `duration` seconds pass (nil: until a signal), a stop signal arrives or the
    /// profile fails, showing progress; returns the final statistics and the signal, if one ended it.
    private func sample<Reporter: TraceReporter>(
        with profiler: Profiler<Reporter>, _ configuration: AgentConfiguration, until duration: Double?
    ) async throws -> (ProfileStatistics, Int32?) {
        let ended = RunEnded()
        let target = pid.map { "pid \($0)" } ?? "every process"
        let length = duration.map { "for \($0) s" } ?? "continuously, one interval every \(configuration.reportInterval)"
        let what = configuration.modes.contains(.cpu) ? "at \(configuration.frequency) Hz" : ""
        let offCPU = configuration.modes.contains(.offCPU) ? "off-CPU time (\(configuration.offCPU.switches.rawValue) switches)" : ""
        let settings = [what, offCPU].filter { !$0.isEmpty }.joined(separator: " and ") + " \(length) "
            + "(\(configuration.kernel.kind.rawValue), \(configuration.unwindMode.rawValue) unwinding)"
        let sampling = Task {
            defer {
                ended.set()
                stopWaker.wake()
            }
            return try await profiler.profile { cpus in
                print("profiling \(target) on \(cpus.count) CPUs \(settings)")
                fflush(nil)  // all streams: a supervisor (or a test) watching the output knows sampling has begun
            }
        }
        var progress = ProgressLine("profiling", every: configuration.monitorInterval)
        let interrupted = await waitForDurationOrSignal(seconds: duration, every: configuration.monitorInterval, unless: { ended.isSet }) {
            guard progress.isDue, let statistics = profiler.statistics() else { return }
            progress.update {
                "\(statistics.sampler.samples) samples taken, \(statistics.receivedSamples) received, "
                    + "\(statistics.engine.reportedSamples) reported, \(statistics.lostInKernel) lost"
            }
        }
        progress.end()
        sampling.cancel()  // the sampler detaches; what is in the buffers and the engine is still delivered
        do {
            return (try await sampling.value, interrupted)
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// What follows the outputs in both modes: the symbolizer, the unwinder, the peak memory.
    private func printTail(_ statistics: ProfileStatistics) {
        print("symbolizer: \(statistics.symbolizer)")
        if let unwinder = statistics.unwinder { print("unwinder: \(unwinder)") }
        // After writing, which needs memory of its own: the whole run's peak.
        print("memory: peak RSS \(String(format: "%.1f", peakRSSMebibytes())) MiB")
    }

    /// `pid` must be a running process (a thread group leader): a thread id would match no
    /// sample, since the sampler compares process ids.
    private func checkIsProcess(_ pid: Int32) throws {
        guard let status = FileContents.text("/proc/\(pid)/status") else {
            throw ValidationError("--pid \(pid): no such process")
        }
        let tgid = status.split(separator: "\n").first { $0.hasPrefix("Tgid:") }.flatMap { Int32(String($0.dropFirst(5).filter { !$0.isWhitespace })) }
        if let tgid, tgid != pid {
            throw ValidationError("--pid \(pid) is a thread of process \(tgid): give the process id, \(tgid)")
        }
    }

    private func printSummary(_ profile: ProfileStatistics) {
        let counters = profile.sampler
        let statistics = profile.engine
        if let aggregation = profile.aggregation {
            print("samples: \(counters.samples) taken by the sampler (\(counters.aggregated) counted in the kernel, \(counters.records) sent as records), "
                + "\(profile.receivedSamples) received, \(statistics.reportedSamples) reported")
            print("counted in the kernel: drained as \(aggregation.traces) traces (\(aggregation.drains) sets drained); sent as records instead: "
                + "\(counters.aggregationCollisions) (stack id collisions), \(counters.aggregationFull) (full maps)")
        } else {
            print("samples: \(counters.records) sent by the sampler, \(profile.received.records) received, \(statistics.reportedSamples) reported")
        }
        // A perf buffer that refuses a record both fails the sampler's output call and counts it
        // in a LOST record: counted once (`lostInKernel`). A BPF ring buffer has no LOST records.
        var lost = "lost: \(profile.lostInKernel) in all"
        for buffer in profile.buffers where buffer.statistics.lost > 0 || buffer.statistics.corrupt > 0 {
            lost += "; " + (buffer.cpu.map { "cpu \($0)" } ?? "ring buffer")
                + " lost \(buffer.statistics.lost) corrupt \(buffer.statistics.corrupt)"
        }
        if counters.outputErrors > 0 {
            lost += profile.bufferKind == .perfBuffer
                ? "; the sampler saw \(counters.outputErrors) refused by full perf buffers"
                : "; refused by the ring buffer \(counters.outputErrors)"
        }
        // What the engine did not report whole: dropped by stage, and reported without symbols.
        let drops = EngineCounter.drops.compactMap { counter in statistics.total(counter) == 0 ? nil : "\(counter) \(statistics.total(counter))" }
        if !drops.isEmpty { lost += "; dropped in the engine: " + drops.joined(separator: ", ") }
        if statistics.total(.malformed) > 0 { lost += "; malformed records \(statistics.total(.malformed))" }
        if profile.undrainedSamples > 0 { lost += "; counted in the kernel but not drained \(profile.undrainedSamples)" }
        if statistics.unreportedSamples != statistics.dropped {
            lost += "; samples in dropped traces \(statistics.unreportedSamples)"
        }
        if let missing = profile.aggregation?.stacksMissing, missing > 0 { lost += "; drained stacks missing \(missing)" }
        if statistics.total(.degraded) > 0 { lost += "; reported unsymbolized (degraded) \(statistics.total(.degraded))" }
        print(lost)
        if counters.offCPUSwitches > 0 {
            print("off-CPU: \(counters.offCPUSwitches) switches away (\(counters.offCPUUnsampled) sampled out, \(counters.offCPUTracked) tracked, "
                + "\(counters.offCPUTrackErrors) refused by the map); \(counters.offCPUResumed) ran again (\(counters.offCPUShort) shorter than "
                + "offcpu.min-duration-us, \(counters.offCPUSent) sent, \(counters.offCPURefused) refused by a full buffer, "
                + "\(counters.offCPUTorn) torn), \(counters.offCPUBlocked ?? 0) still blocked at the end, "
                + "\(counters.offCPUDropped ?? 0) dropped from a full map or unseen")
            if counters.offCPUAwaiting > 0 {
                print("off-CPU snapshots: \(counters.offCPUAwaiting) blocks awaited their task's return, \(counters.offCPUAwaitedSent) no longer "
                    + "(\(counters.offCPUMoved) sent without a snapshot: the task had moved on), \(counters.offCPUPending) still awaiting at the end")
            }
        }
        print("stack errors: kernel \(counters.kernelStackErrors), user \(counters.userStackErrors)")
        if counters.snapshots > 0 {
            print("stack snapshots: \(counters.snapshots) (\(counters.snapshotBytes / counters.snapshots) bytes on average), "
                + "\(counters.snapshotsTruncated) cut at the window or a fault, \(counters.snapshotErrors) with no readable stack")
        }
        print("engine: \(statistics)")
    }
}


/// "SIGTERM" for 15, and so on for the stop signals; "the profile's end" for none.
private func signalName(_ number: Int32?) -> String {
    switch number {
    case SIGINT: "SIGINT"
    case SIGTERM: "SIGTERM"
    case SIGHUP: "SIGHUP"
    case let number?: "signal \(number)"
    case nil: "the profile's end"
    }
}

/// Set when the profile's task has ended (done, or failed to start).
private final class RunEnded: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// The number of the SIGINT, SIGTERM or SIGHUP that arrived (0: none yet).
private let stopSignal = Atomic<Int32>(0)

/// Written by the signal handler (`write` is async-signal-safe; the write end does not block, so
/// a flood of signals cannot hang the handler), read by the `th-signals` thread, which wakes the
/// profile loop: the loop sleeps whole progress intervals instead of polling.
private let stopSignalPipe: (read: Int32, write: Int32) = {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { return (-1, -1) }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // not inherited by what the agent runs
    _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
    return (fds[0], fds[1])
}()

/// Wakes the profile loop's current sleep, and every later one at once.
private let stopWaker = SleepWaker()

/// Routes SIGINT, SIGTERM and SIGHUP (a closed terminal: the profile is kept, as with SIGTERM,
/// unless `signals.hangup = ignore`) to `stopSignal`, and wakes the profile loop.
private func catchStopSignals() throws {
    // Globals are initialized at their first use, which must not happen inside a handler.
    guard stopSignal.load(ordering: .relaxed) == 0, stopSignalPipe.read >= 0 else {
        throw CommandFailure("pipe: \(String(cString: strerror(errno)))")
    }
    let thread = try WorkerThread.spawn(name: "th-signals", cpus: nil) {
        var byte: UInt8 = 0
        while read(stopSignalPipe.read, &byte, 1) < 0 && errno == EINTR {}
        stopWaker.wake()
    }
    thread.detach()  // blocked until a signal comes, which may be never: the process ends it
    for stop in [SIGINT, SIGTERM, SIGHUP] {
        signal(stop) { number in
            let savedErrno = errno  // the interrupted code may be about to read it
            stopSignal.store(number, ordering: .relaxed)
            var one: UInt8 = 1
            _ = write(stopSignalPipe.write, &one, 1)
            errno = savedErrno
        }
    }
}

private func restoreStopSignals() {
    for stop in [SIGINT, SIGTERM, SIGHUP] { signal(stop, SIG_DFL) }
}

/// A sleep that another thread can end early: `wake()` cancels the sleep in progress and makes
/// every later one return at once.
private final class SleepWaker: Sendable {
    private struct State {
        var woken = false
        var sleeper: Task<Void, Never>?
    }

    private let state = Mutex(State())

    func sleep(for duration: Duration) async {
        let sleeper = Task { _ = try? await Task.sleep(for: duration) }
        let woken = state.withLock { state in
            state.sleeper = sleeper
            return state.woken
        }
        if woken { sleeper.cancel() }
        await sleeper.value
        state.withLock { $0.sleeper = nil }
    }

    func wake() {
        let sleeper = state.withLock { state in
            state.woken = true
            return state.sleeper
        }
        sleeper?.cancel()
    }
}

/// Sleeps until `seconds` pass (nil: forever), SIGINT/SIGTERM/SIGHUP has arrived or `stopped()`
/// turns true (whoever makes it true calls `stopWaker.wake()`), calling `tick` every `interval`;
/// returns the signal that ended it, if one did. Each wakeup is a timer and a handoff between
/// the concurrency pool's threads, which the agent pays for whatever it samples: it wakes once an
/// interval (the progress line's), not more.
private func waitForDurationOrSignal(
    seconds: Double?, every interval: Duration, unless stopped: () -> Bool, tick: () -> Void
) async -> Int32? {
    let deadline = seconds.map { ContinuousClock.now + .milliseconds(Int($0 * 1000)) }
    while deadline.map({ ContinuousClock.now < $0 }) ?? true, !stopped() {
        let number = stopSignal.load(ordering: .relaxed)
        if number != 0 { return number }
        await stopWaker.sleep(for: deadline.map { min(interval, max(.zero, $0 - ContinuousClock.now)) } ?? interval)
        tick()
    }
    let number = stopSignal.load(ordering: .relaxed)
    return number == 0 ? nil : number
}
