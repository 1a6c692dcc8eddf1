import ArgumentParser
import CommandLineSupport
import LinuxSystem
import SyntheticTraces
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// Runs the tracehandler on generated traces and prints what the reporter received.
struct SyntheticCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic",
        abstract: "Run the tracehandler on synthetic traces and print the folded stacks it reported."
    )

    @Option(help: "Traces to generate.") var traces = 100_000
    @Option(help: "Distinct stacks among them.") var distinct = 1_000
    @Option(help: "User frames per trace.") var depth = 16
    @Option(help: "Zipf exponent of stack popularity (0 = uniform).") var zipf = 1.0
    @Option(help: "Entries in each of the two LRU caches.") var cacheSize: UInt32 = 16_384
    @Option(help: "Folded lines to print, most samples first.") var top = 10
    @Option(help: "Also write every folded line to this file.") var output: String?
    @Option(help: "serial: the Go-shaped handler on one task; staged: the pinned-stage engine.")
    var topology: Topology = .staged
    @Option(help: "Symbolize workers (staged topology).") var workers = 1
    @Flag(help: "Count reports instead of folding them: measures the handler, not the reporter.")
    var countOnly = false

    enum Topology: String, ExpressibleByArgument { case serial, staged }

    func validate() throws {
        guard traces >= 0 else { throw ValidationError("--traces must be 0 or more") }
        guard top >= 0 else { throw ValidationError("--top must be 0 or more") }
        guard cacheSize > 0 else { throw ValidationError("--cache-size must be at least 1") }
        let most = EngineConfiguration.maximumSymbolizeWorkers
        guard (1...most).contains(workers) else { throw ValidationError("--workers must be in 1...\(most)") }
    }

    func run() async throws {
        var configuration = SyntheticTraceConfiguration()
        configuration.distinctStacks = distinct
        configuration.userDepth = depth
        configuration.zipfSkew = zipf
        let source = try SyntheticTraceSequence(configuration, count: traces)
        if countOnly {
            try await run(reporter: CountingReporter(), source: source) { ($0.sampleCount, $0.frameReportCount, []) }
        } else {
            try await run(reporter: FoldedStacksReporter(), source: source) {
                ($0.sampleCount, $0.frameReportCount, $0.foldedLines())
            }
        }
    }

    private func run<Reporter: TraceReporter>(
        reporter: Reporter, source: SyntheticTraceSequence, results: (Reporter) -> (UInt64, UInt64, [String])
    ) async throws {

        let clock = ContinuousClock()
        let began = clock.now
        let summary: String
        switch topology {
        case .serial:
            let worker = try start(
                reporter: reporter, processor: UnsymbolizedTraceProcessor(), traces: source,
                times: FixedTimes(monitorInterval: .seconds(5)), cacheSize: cacheSize)
            await worker.exited()
            summary = "caches: \(worker.statistics())"
        case .staged:
            var engineConfiguration = EngineConfiguration()
            engineConfiguration.cacheSize = Int(cacheSize)
            engineConfiguration.symbolizeWorkers = workers
            engineConfiguration.symbolize.policy = .block
            let engine = try StagedEngine(
                configuration: engineConfiguration, processor: UnsymbolizedTraceProcessor(), reporter: reporter)
            try engine.start()
            let generator = source.generator
            let count = traces
            try engine.runSource { source, _ in
                var generator = generator
                for i in 0..<count {
                    source.emit { generator.next(into: &$0, ktime: KTime(rawValue: 1_000_000_000 + UInt64(i) * 1000)) }
                }
            }
            await engine.stop()
            let statistics = engine.statistics()
            guard statistics.isConserved else { throw ValidationError("conservation failed:\n\(statistics)") }
            summary = "engine: \(statistics)"
        }
        let elapsed = clock.now - began

        let (sampleCount, frameReportCount, lines) = results(reporter)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print("handled \(traces) synthetic traces (\(distinct) distinct stacks, depth \(depth), zipf \(zipf)) with the \(topology) topology in \(elapsed) (\(Int(Double(traces) / seconds)) traces/s)")
        print("reporter: \(sampleCount) samples counted, \(frameReportCount) frame reports, \(lines.count) folded stacks")
        print(summary)
        print("top \(min(top, lines.count)) folded stacks:")
        for line in lines.prefix(top) { print("  \(line)") }
        if let output {
            try writeLines(lines, to: output)
            print("wrote \(lines.count) folded lines to \(output)")
        }
        guard sampleCount == UInt64(traces) else {
            throw ValidationError("reporter counted \(sampleCount) samples of \(traces) traces")
        }
    }
}

/// Writes `lines` to the file `path`, atomically and without following a link planted there
/// (`OutputDirectory`), failing with the path and the system's reason.
func writeLines(_ lines: [String], to path: String) throws {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard !name.isEmpty, name != ".", name != ".." else { throw ValidationError("--output \(path) does not name a file") }
    do {
        try OutputDirectory(path: directory).write(name) { (writer: inout OutputWriter) throws(OutputDirectoryError) in
            for line in lines { try writer.append(line: line) }
        }
    } catch {
        throw CommandFailure("cannot write \(path): \(error)")
    }
}
