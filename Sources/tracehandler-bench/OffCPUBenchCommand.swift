import ArgumentParser
import CommandLineSupport
import KernelPath
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// Off-CPU profiling at context-switch rates: `pingpong` makes voluntary switches as fast as the
/// kernel allows (pairs of threads passing a byte back and forth over pipes, both threads of a
/// pair on one CPU, so that every pass is a switch), and the agent profiles it in off-CPU mode
/// (`--pid`) for `--duration` seconds, every switch taken (`offcpu.probability = 1`). Reported:
/// the switches the kernel offered (the program's count of switches away), the records sent,
/// received and reported, what was lost in the kernel and dropped in the engine, and the agent's
/// CPU per record over the steady window [`--from`, `--to`).
struct OffCPUBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offcpu",
        abstract: "Off-CPU profiling of a context-switch generator: switches offered, records reported, lost, agent CPU per record."
    )

    @Option(help: "The agent to run (default: the tracehandler next to this program).") var agent: String?
    @Option(help: "Ping-pong thread pairs (default: one per CPU this program may use).") var pairs: Int?
    @Option(help: "Seconds the agent profiles.") var duration = 12
    @Option(help: "Start of the measured window, seconds after sampling starts.") var from = 3
    @Option(help: "End of the measured window, seconds after sampling starts.") var to = 10
    @Option(help: "How the agent walks user stacks (unwind.mode).") var unwind = "frame-pointers"
    @OptionGroup var options: ConfigurationOptions

    func validate() throws {
        guard from >= 1, to > from, duration > to, duration <= 3600 else {
            throw ValidationError("--from \(from) --to \(to) --duration \(duration): need 1 ≤ from < to < duration ≤ 3600")
        }
        if let pairs, !(1...256).contains(pairs) { throw ValidationError("--pairs \(pairs): 1 ... 256") }
    }

    func run() async throws {
        if let missing = KernelSupport.missingCapability() { throw CommandFailure("cannot run the off-CPU benchmark: \(missing)") }
        let program = try AgentBenchCommand.ownPath()
        let agentPath = agent ?? (program.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/tracehandler")
        guard access(agentPath, X_OK) == 0 else { throw CommandFailure("no agent at \(agentPath): give --agent PATH") }
        let pairCount = pairs ?? WorkerThread.allowedCPUs().count
        let generator = try ChildProcess([program, "pingpong", "--pairs", "\(pairCount)"])
        defer { generator.signal(SIGKILL) }

        let directory = try TemporaryDirectory("tracehandler-offcpu-bench")
        var arguments = [agentPath, "profile", "--mode", "off-cpu", "--pid", "\(generator.pid)", "--duration", "\(duration)",
                         "--format", "folded", "--output-dir", directory.path + "/out", "--set", "unwind.mode=\(unwind)"]
        if let config = options.config { arguments += ["--config", config] }
        for setting in options.settings { arguments += ["--set", setting] }
        print("off-CPU bench: \(pairCount) ping-pong pair(s), the agent on them for \(duration) s (\(unwind)), measured from \(from) s to \(to) s")
        let run = try MeasuredAgentRun(arguments, summaryPath: directory.path + "/summary", from: from, to: to)

        guard let offCPU = run.line(startingWith: "off-CPU: ").map(Self.numbers), offCPU.count == 11,
            let samples = run.line(startingWith: "samples: ").map(Self.numbers), samples.count == 3
        else { throw CommandFailure("the agent's summary lacks its off-CPU or samples line:\n\(run.summary)") }
        let (switches, tracked, resumed, short) = (offCPU[0], offCPU[2], offCPU[4], offCPU[5])
        let (refused, torn, stillBlocked, dropped) = (offCPU[7], offCPU[8], offCPU[9], offCPU[10])
        let (sent, received, reported) = (samples[0], samples[1], samples[2])
        let blocks = resumed - min(short, resumed)  // long enough to be sent
        let seconds = Double(to - from)
        func rate(_ count: UInt64, over seconds: Double) -> String { "\(Int(Double(count) / seconds))/s" }
        print("switches away: \(switches) (\(rate(switches, over: Double(duration))) over the run), tracked \(tracked), "
            + "ran again \(resumed) (\(short) short, \(refused) refused by a full buffer, \(torn) torn), still blocked \(stillBlocked), "
            + "dropped from a full map or unseen \(dropped)")
        print("records: \(sent) sent, \(received) received, \(reported) reported: "
            + String(format: "%.2f %%", blocks == 0 ? 0 : Double(reported) * 100 / Double(blocks)) + " of the blocks sent")
        if let lost = run.line(startingWith: "lost: ") { print(lost) }
        if let engine = run.line(startingWith: "engine: ") { print(engine) }
        print("agent, steady window: \(run.samples) records (\(rate(run.samples, over: seconds))), CPU "
            + String(format: "%.3f s (%.1f %% of one CPU), %.0f ns/record", run.cpuSeconds, run.cpuSeconds * 100 / seconds,
                     run.samples == 0 ? 0 : run.cpuSeconds * 1e9 / Double(run.samples)))
    }

    /// The whole numbers of a line, in order.
    static func numbers(_ line: Substring) -> [UInt64] {
        line.split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
    }
}

/// `pingpong --pairs N`: N pairs of threads, each pair pinned to one CPU, passing one byte back and
/// forth over two pipes: every pass blocks one thread in read(2) and wakes the other, a
/// voluntary context switch. Runs until its parent exits (or it is killed).
struct PingPongCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pingpong", abstract: "Make voluntary context switches until killed.", shouldDisplay: false)

    @Option var pairs = 1

    func run() throws {
        let parent = getppid()
        let cpus = WorkerThread.allowedCPUs()
        for pair in 0..<pairs {
            var there: [Int32] = [-1, -1]
            var back: [Int32] = [-1, -1]
            guard pipe(&there) == 0, pipe(&back) == 0 else { throw CommandFailure("pipe: \(String(cString: strerror(errno)))") }
            let cpu = [cpus[pair % cpus.count]]
            let (serveIn, serveOut, returnIn, returnOut) = (there[0], back[1], back[0], there[1])
            for (name, input, output, first) in [("th-ping", returnIn, returnOut, true), ("th-pong", serveIn, serveOut, false)] {
                let thread = try WorkerThread.spawn(name: name, cpus: cpu) {
                    var byte: UInt8 = 0
                    if first { _ = write(output, &byte, 1) }
                    while read(input, &byte, 1) == 1 { _ = write(output, &byte, 1) }
                }
                thread.detach()
            }
        }
        while getppid() == parent { sleep(1) }
    }
}
