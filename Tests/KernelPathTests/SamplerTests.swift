import Foundation
import KernelPath
import Symbolization
import TraceReporters
import Testing
import TraceEngine
import TraceHandler
import TraceModel

/// The sampler on this kernel: a CPU-bound child built with frame pointers is sampled, and its
/// samples carry its pid and a user stack.
@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct SamplerTests {
    @Test(arguments: KernelOutputConfiguration.Kind.allCases)
    func aBusyChildIsSampledWithItsUserStack(kind: KernelOutputConfiguration.Kind) async throws {
        let child = try BusyChild.start(seconds: 60)  // terminated below; long enough for a loaded machine
        defer { child.terminate() }
        let reporter = SampleRecorder()
        let (counters, statistics) = try await sample(child, kind: kind, processor: UnsymbolizedTraceProcessor(), reporter: reporter)

        let samples = reporter.samples
        #expect(samples.count >= 300, "\(samples.count) samples; \(counters)")
        #expect(samples.allSatisfy { $0.pid == UInt32(child.processIdentifier) })
        // Named by its binary from exec on; only a sample taken between the spawn and the exec
        // (microseconds) can carry the spawning thread's name.
        let otherNames = samples.filter { $0.comm != "th-busy-child" }
        #expect(otherNames.count * 100 <= samples.count, "\(otherNames.count) of \(samples.count): \(Set(otherNames.map(\.comm)))")
        let withUserStack = samples.filter { $0.userFrames >= 3 }  // leaf, spin, main at least
        #expect(withUserStack.count * 10 >= samples.count * 9, "user stacks: \(withUserStack.count) of \(samples.count)")
        #expect(statistics.isConserved)
    }
}

/// Samples `child` at 999 Hz through the kernel path into an engine until the sampler has sent 300
/// records (0.3 s of the child's CPU time), however long a loaded machine takes, up to 20 s.
/// With an `unwinder`, each sample also carries an 8 KiB stack snapshot, walked by one unwind worker.
func sample<P: TraceProcessor, R: TraceReporter>(
    _ child: BusyChild, kind: KernelOutputConfiguration.Kind, processor: P, reporter: R, unwinder: DWARFUnwinder? = nil
) async throws -> (ProgramCounters, EngineStatistics) {
    try await sample(pid: child.processIdentifier, kind: kind, processor: processor, reporter: reporter, unwinder: unwinder)
}

func sample<P: TraceProcessor, R: TraceReporter>(
    pid: Int32, kind: KernelOutputConfiguration.Kind, processor: P, reporter: R, unwinder: DWARFUnwinder? = nil
) async throws -> (ProgramCounters, EngineStatistics) {
    var output = KernelOutputConfiguration()
    output.kind = kind
    output.wakeupWatermarkBytes = 4096
    output.pollInterval = .milliseconds(20)
    let sampler = try Sampler(frequency: 999, pid: pid, output: output, stackBytes: unwinder == nil ? 0 : 8192)
    defer { sampler.close() }
    var configuration = EngineConfiguration()
    configuration.unwind.workers = unwinder == nil ? 0 : 1
    let engine = try StagedEngine(configuration: configuration, processor: processor, reporter: reporter, unwinder: unwinder)
    try engine.start()
    let poll = try KernelPollStage(buffers: sampler.buffers, configuration: output)
    try engine.runSource(name: "th-poll") { source, isStopRequested in poll.run(into: source, isStopRequested: isStopRequested) }
    for _ in 0..<200 where sampler.counters().records < 300 {
        try await Task.sleep(for: .milliseconds(100))
    }
    sampler.close()
    poll.wake()
    await engine.stop()
    return (sampler.counters(), engine.statistics())
}

/// Remembers what the count reports carried, and the frame count of each converted trace.
final class SampleRecorder: TraceReporter, @unchecked Sendable {
    struct Sample { var pid: UInt32; var comm: String; var userFrames: Int }
    private let lock = NSLock()
    private var framesByHash: [TraceHash: Int] = [:]
    private var recorded: [(TraceHash, UInt32, String)] = []

    var supportsReportTraceEvent: Bool { false }

    func reportFramesForTrace(_ trace: Trace) {
        let user = trace.frameTypes.filter { $0 == .native }.count
        lock.withLock { framesByHash[trace.hash] = user }
    }

    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        lock.withLock { recorded.append((traceHash, meta.pid, meta.comm.description)) }
    }

    func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {}

    var samples: [Sample] {
        lock.withLock { recorded.map { Sample(pid: $0.1, comm: $0.2, userFrames: framesByHash[$0.0] ?? 0) } }
    }
}

/// A child process that spins in a three-deep call chain, compiled here with the toolchain's
/// clang and frame pointers kept even in leaf functions (gcc 12 ignores
/// -mno-omit-leaf-frame-pointer, and a leaf without one hides its caller).
struct BusyChild {
    let process: Process
    /// Where it was compiled: one directory a child, since tests start children concurrently.
    let directory: URL
    /// Its standard input and output, when started with them.
    var input: Pipe? = nil
    var output: Pipe? = nil
    var processIdentifier: Int32 { process.processIdentifier }

    static let source = """
        #include <stdlib.h>
        #include <time.h>
        __attribute__((noinline)) unsigned long leaf(unsigned long x) { for (int i = 0; i < 1000; i++) x = x * 6364136223846793005UL + 1; return x; }
        __attribute__((noinline)) unsigned long spin(unsigned long x) { return leaf(x) ^ leaf(x + 1); }
        int main(int argc, char **argv) {
            time_t end = time(0) + atoi(argv[1]);
            unsigned long x = 1;
            while (time(0) < end) x = spin(x);
            return (int)(x & 1);
        }
        """

    static func start(seconds: Int) throws -> BusyChild {
        try start(source: source, named: "th-busy-child", arguments: ["\(seconds)"])
    }

    /// Compiles C `source` with frame pointers into a binary called `name` and runs it, its standard
    /// input and output pipes (`input`, `output`) when `withInput`.
    static func start(source: String, named name: String, arguments: [String], withInput: Bool = false) throws -> BusyChild {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("th-busy-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let sourceFile = directory.appendingPathComponent("child.c")
        // Its name is its comm from exec on. (Set by prctl in main instead, samples taken while the
        // dynamic loader ran carried the file name: an occasional failure.)
        let binary = directory.appendingPathComponent(name)
        try source.write(to: sourceFile, atomically: true, encoding: .utf8)
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: clangPath())
        compiler.arguments = ["-O1", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer", "-pthread", "-o", binary.path, sourceFile.path]
        try compiler.run()
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else { throw CompileError(status: compiler.terminationStatus) }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        let input = withInput ? Pipe() : nil
        let output = withInput ? Pipe() : nil
        if let input, let output {
            process.standardInput = input
            process.standardOutput = output
        }
        try process.run()
        return BusyChild(process: process, directory: directory, input: input, output: output)
    }

    /// SIGKILL: the test runner's children may inherit an ignored SIGTERM.
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The clang next to the Swift toolchain's swift, else the one on PATH.
    static func clangPath() -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let swift = "\(directory)/swift"
            let clang = "\(directory)/clang"
            if FileManager.default.isExecutableFile(atPath: swift), FileManager.default.isExecutableFile(atPath: clang) { return clang }
        }
        return "/usr/bin/clang"
    }

    struct CompileError: Error { var status: Int32 }
}

/// End to end: sampler → poll stage → engine with the real symbolizer → folded stacks. The busy
/// child's hottest stack must read `main;spin;leaf`, as `perf report` names it.
@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct ProfileEndToEndTests {
    @Test func theHottestStackOfABusyChildIsNamed() async throws {
        let child = try BusyChild.start(seconds: 60)
        defer { child.terminate() }
        let reporter = FoldedStacksReporter()
        _ = try await sample(child, kind: .perfBuffer, processor: try NativeSymbolizer(), reporter: reporter)

        let lines = reporter.foldedLines()  // most samples first
        let hottest = try #require(lines.first)
        #expect(hottest.hasPrefix("th-busy-child;"), "\(lines.prefix(3))")
        #expect(hottest.contains(";main;spin;leaf"), "\(lines.prefix(3))")
    }
}

/// `kernel.aggregation = bpf` on this kernel: the busy child's samples are counted in BPF maps and
/// drained as traces carrying counts; its hottest stack reads as in record mode, far fewer traces
/// than samples cross the engine, and every sample the program counted is drained and reported.
@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct KernelAggregationTests {
    @Test func countedSamplesAreDrainedNamedAndConserved() async throws {
        let child = try BusyChild.start(seconds: 60)
        defer { child.terminate() }
        var output = KernelOutputConfiguration()
        output.aggregation = .bpf
        output.aggregationInterval = .milliseconds(200)
        output.pollInterval = .milliseconds(20)
        output.wakeupWatermarkBytes = 4096
        let sampler = try Sampler(frequency: 999, pid: child.processIdentifier, output: output)
        defer { sampler.close() }
        let aggregation = try #require(sampler.aggregation)
        let reporter = FoldedStacksReporter()
        let engine = try StagedEngine(configuration: EngineConfiguration(), processor: try NativeSymbolizer(), reporter: reporter)
        try engine.start()
        let poll = try KernelPollStage(buffers: sampler.buffers, configuration: output, aggregation: aggregation)
        try engine.runSource(name: "th-poll") { source, isStopRequested in poll.run(into: source, isStopRequested: isStopRequested) }
        for _ in 0..<200 where sampler.counters().aggregated < 300 || aggregation.statistics.drains < 3 {
            try await Task.sleep(for: .milliseconds(100))
        }
        sampler.close()  // detached before the poll stage's last drain, which then empties both sets
        poll.wake()
        await engine.stop()
        let counters = sampler.counters()
        let drained = aggregation.statistics
        let statistics = engine.statistics()

        #expect(counters.aggregated >= 300, "\(counters)")
        #expect(drained.samples == counters.aggregated, "\(drained); \(counters)")
        #expect(drained.mapErrors == 0 && drained.stacksMissing == 0, "\(drained)")
        // Samples that could not be counted went out as records, and were received as such.
        #expect(statistics.producedSamples == counters.aggregated + counters.records, "\(statistics)")
        #expect(statistics.reportedSamples == statistics.producedSamples)
        #expect(statistics.isConserved)
        #expect(reporter.sampleCount == statistics.reportedSamples)
        // The child's loop has few distinct stacks (its leaf's addresses): keys repeat within an interval.
        #expect(statistics.produced * 2 < statistics.producedSamples, "traces \(statistics.produced), samples \(statistics.producedSamples)")
        let hottest = try #require(reporter.foldedLines().first)
        #expect(hottest.hasPrefix("th-busy-child;") && hottest.contains(";main;spin;leaf"), "\(reporter.foldedLines().prefix(3))")
    }

    /// A sampler drained after it was detached: the last drain empties both sets, so a second
    /// finds nothing, and the counts equal what the program counted.
    @Test func theLastDrainEmptiesBothSets() async throws {
        let child = try BusyChild.start(seconds: 60)
        defer { child.terminate() }
        var output = KernelOutputConfiguration()
        output.aggregation = .bpf
        let sampler = try Sampler(frequency: 999, pid: child.processIdentifier, output: output)
        let aggregation = try #require(sampler.aggregation)
        for _ in 0..<200 where sampler.counters().aggregated < 200 { try await Task.sleep(for: .milliseconds(50)) }
        sampler.close()
        let reporter = FoldedStacksReporter()
        let engine = try StagedEngine(configuration: EngineConfiguration(), processor: UnsymbolizedTraceProcessor(), reporter: reporter)
        try engine.start()
        try engine.runSource(name: "th-drain") { source, _ in
            aggregation.drainAll(into: source)
            let afterFirst = aggregation.statistics.samples
            aggregation.drainAll(into: source)
            precondition(aggregation.statistics.samples == afterFirst, "a second drain found counts")
        }
        await engine.stop()
        #expect(sampler.counters().aggregated >= 200)
        #expect(aggregation.statistics.samples == sampler.counters().aggregated)
        #expect(reporter.sampleCount == aggregation.statistics.samples)
    }
}
