import ArgumentParser
import CommandLineSupport
import Foundation
import LinuxSystem
import Symbolization
import SyntheticTraces
import TraceEngine
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// The real symbolizer as the bottleneck: traces whose frames are addresses in the shared
/// libraries this program has mapped (every frame a real ELF symbol lookup, as the agent's), all
/// distinct and more than the engine's caches hold, so every trace is a miss; the engine runs them
/// flat out with `symbolize.workers` 1 and 2 in alternating rounds and prints symbolized traces a
/// second and the ratio.
struct SymbolizeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "symbolize",
        abstract: "Symbolized traces a second through the real symbolizer with 1 and 2 workers, every trace a miss."
    )

    @Option(help: "Rounds; each runs every worker count once, in alternating order.") var rounds = 3
    @Option(help: "Seconds each run lasts.") var duration = 2.0
    @Option(help: "Distinct traces (more than cache.size, so that every trace is a miss).") var distinct = 65_536
    @Option(help: "Frames per trace.") var depth = 16
    @Option(help: "Shared libraries the frames are spread over (at most those mapped).") var libraries = 8
    @Option(help: "Worker counts to compare, comma-separated.") var workers = "1,2"

    func validate() throws {
        guard rounds >= 1, duration > 0, (1...1_000_000).contains(distinct), (1...127).contains(depth), libraries >= 1 else {
            throw ValidationError("need --rounds ≥ 1, --duration > 0, --distinct 1 ... 1000000, --depth 1 ... 127, --libraries ≥ 1")
        }
        _ = try workerCounts()
    }

    func run() async throws {
        let counts = try workerCounts()
        let libraries = try Self.sharedLibraries(limit: libraries)
        let traces = Self.traces(distinct: distinct, depth: depth, over: libraries)
        let symbolizer = try NativeSymbolizer()
        // Warm: every library's table parsed and every name made once, as in a profile that runs.
        traces.withRecords { records in
            var raw = RawTrace()
            var trace = Trace()
            for index in 0..<records.count {
                try? raw.load(records[index])
                symbolizer.convertTrace(raw, into: &trace)
            }
        }
        print("symbolize bench: \(distinct) distinct traces of \(depth) frames over \(libraries.count) libraries "
            + "(\(libraries.map { $0.split(separator: "/").last.map(String.init) ?? $0 }.joined(separator: ", "))), \(duration) s a run")
        var results: [Int: [Double]] = [:]
        for round in 1...rounds {
            for count in round % 2 == 1 ? counts : counts.reversed() {
                let perSecond = try Self.measure(workers: count, symbolizer: symbolizer, traces: traces, seconds: duration)
                results[count, default: []].append(perSecond)
                print("  round \(round), \(count) worker\(count == 1 ? "" : "s"): \(Int(perSecond)) symbolized traces/s")
            }
        }
        guard let base = counts.first else { return }
        for count in counts.dropFirst() {
            let byRound = zip(results[count]!, results[base]!).map { ratio($0, $1) }
            print("\(count) ÷ \(base) workers: median \(ratio(Self.median(results[count]!), Self.median(results[base]!))) "
                + "(by round: \(byRound.joined(separator: " ")))")
        }
    }

    private func workerCounts() throws -> [Int] {
        let counts = workers.split(separator: ",").compactMap { Int($0) }
        guard !counts.isEmpty, counts.count == workers.split(separator: ",").count,
            counts.allSatisfy({ (1...EngineConfiguration.maximumSymbolizeWorkers).contains($0) })
        else { throw ValidationError("--workers \(workers): counts 1 ... \(EngineConfiguration.maximumSymbolizeWorkers), comma-separated") }
        return counts
    }

    /// One flat-out run: every trace a miss, symbolized by `workers` workers sharing `symbolizer`.
    private static func measure(workers: Int, symbolizer: NativeSymbolizer, traces: EncodedTraces, seconds: Double) throws -> Double {
        var configuration = EngineConfiguration()
        configuration.symbolizeWorkers = workers
        configuration.cacheSize = 1024
        configuration.symbolize.policy = .block
        let engine = try StagedEngine(configuration: configuration, processor: symbolizer, reporter: CountingReporter())
        try engine.start()
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        try engine.runSource(name: "th-source") { source, _ in
            traces.withRecords { records in
                var next = 0
                while ContinuousClock.now < end {
                    for _ in 0..<64 {
                        source.emit { (trace) throws(RawTraceError) in try trace.loadDeferringHash(records[next]) }
                        next = next + 1 == records.count ? 0 : next + 1
                    }
                    source.flush()
                }
            }
        }
        engine.stopAndWait()
        let elapsed = ContinuousClock.now - start
        let statistics = engine.statistics()
        guard statistics.isConserved else { throw CommandFailure("engine conservation failed: \(statistics)") }
        let misses = statistics.total(.bpfCacheMiss)
        guard misses * 10 >= statistics.produced * 9 else {
            throw CommandFailure("only \(misses) of \(statistics.produced) traces missed the cache: raise --distinct")
        }
        let (whole, fraction) = elapsed.components
        return Double(statistics.produced) / (Double(whole) + Double(fraction) * 1e-18)
    }

    /// Paths of the shared libraries this program maps executable, at most `limit`.
    private static func sharedLibraries(limit: Int) throws -> [String] {
        guard let maps = FileContents.text("/proc/self/maps") else { throw CommandFailure("cannot read /proc/self/maps") }
        var paths: [String] = []
        for mapping in ProcessMaps.parse(maps) where mapping.isExecutable && mapping.isFile && mapping.path.contains(".so") {
            if !paths.contains(mapping.path) { paths.append(mapping.path) }
        }
        guard !paths.isEmpty else { throw CommandFailure("this program maps no shared library") }
        return Array(paths.prefix(limit))
    }

    /// `distinct` traces of this process, each frame a random address in the executable mapping of
    /// one of `libraries` (callers as return addresses, as the sampler sends them).
    private static func traces(distinct: Int, depth: Int, over libraries: [String]) -> EncodedTraces {
        let maps = FileContents.text("/proc/self/maps").map(ProcessMaps.parse) ?? []
        let ranges = maps.filter { $0.isExecutable && libraries.contains($0.path) }.map { ($0.start, $0.end) }
        var random = XorShift(seed: 0x2545_F491_4F6C_DD1D)  // the same traces every run, and fast to make
        let pid = UInt32(getpid())
        var trace = RawTrace()
        return EncodedTraces((0..<distinct).lazy.map { _ in
            try! trace.assign(pid: pid, tid: pid, cpu: 0, ktime: KTime(rawValue: 1), comm: Comm("bench"), kernelFrameCount: 0, userFrameCount: depth) { i in
                let (start, end) = ranges.randomElement(using: &random)!
                return Frame(addressOrLine: UInt64.random(in: start..<end, using: &random), type: .native, isReturnAddress: i > 0)
            }
            return trace
        })
    }

    private static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}

/// Marsaglia's xorshift64: a seeded generator for reproducible workloads.
struct XorShift: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 1 : seed }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
