import CommandLineSupport
import LinuxSystem

/// One run of the agent (`tracehandler profile …`) as a separate process, measured through its
/// progress lines: the samples its sampler took and the CPU all its threads used between the
/// lines for `from` and `to` seconds after sampling started (start-up and the final write
/// excluded), and its summary (standard output).
struct MeasuredAgentRun {
    /// Samples (records, with off-CPU: blocks) the sampler took within the window.
    let samples: UInt64
    /// CPU seconds of every agent thread within the window.
    let cpuSeconds: Double
    /// What the agent printed on standard output.
    let summary: String

    /// Runs `arguments` (the agent's path first) to its end; throws when it fails or its progress
    /// lines do not cover the window.
    init(_ arguments: [String], summaryPath: String, from: Int, to: Int) throws {
        let agent = try ChildProcess(arguments, outputPath: summaryPath, captureErrors: true)
        var start: (samples: UInt64, cpu: Double)?
        var window: (samples: UInt64, cpu: Double)?
        var otherLines: [String] = []
        while let line = agent.nextErrorLine() {
            guard let progress = AgentProgressLine(line) else {
                otherLines.append(line)
                continue
            }
            if start == nil, progress.seconds >= Double(from) {
                start = (progress.taken, agent.cpuSeconds())
            } else if let first = start, window == nil, progress.seconds >= Double(to) {
                window = (progress.taken - first.samples, agent.cpuSeconds() - first.cpu)
            }
        }
        let status = agent.wait()
        summary = FileContents.text(summaryPath) ?? ""
        guard status == 0 else {
            throw CommandFailure("the agent exited with status \(status):\n" + (otherLines + [summary]).joined(separator: "\n"))
        }
        guard let window else { throw CommandFailure("the agent's progress lines did not cover \(from)–\(to) s:\n\(summary)") }
        samples = window.samples
        cpuSeconds = window.cpu
    }

    /// "lost: N in all" of the summary.
    var lost: UInt64 { number(after: "lost: ") ?? 0 }

    /// The whole number that starts the summary's line beginning with `prefix`.
    func number(after prefix: String) -> UInt64? {
        let line = summary.split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { $0.dropFirst(prefix.count).split(separator: " ").first }.flatMap { UInt64($0) }
    }

    /// The summary's line beginning with `prefix`, whole.
    func line(startingWith prefix: String) -> Substring? {
        summary.split(separator: "\n").first { $0.hasPrefix(prefix) }
    }
}
