import Benchmark
import CHitLoop
import SyntheticTraces
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

/// A set of pre-encoded traces and the cache size that makes them hit or miss.
struct EngineWorkload: Sendable {
    let name: String
    let traces: EncodedTraces
    let cacheSize: Int
    let hashCacheThread: HashCacheThread

    static let all: [EngineWorkload] = [
        EngineWorkload(name: "cache-hit path", distinctStacks: 1024, cacheSize: 16_384),
        EngineWorkload(name: "all-miss path", distinctStacks: 8192, cacheSize: 4096),
        EngineWorkload(name: "cache-hit path, hash/cache on the source thread", distinctStacks: 1024, cacheSize: 16_384,
                       hashCacheThread: .source),
        EngineWorkload(name: "all-miss path, hash/cache on the source thread", distinctStacks: 8192, cacheSize: 4096,
                       hashCacheThread: .source),
    ]

    init(name: String, distinctStacks: Int, cacheSize: Int, hashCacheThread: HashCacheThread = .own) {
        var configuration = SyntheticTraceConfiguration()
        configuration.distinctStacks = distinctStacks
        configuration.userDepth = 16
        configuration.kernelDepth = 2
        self.name = name
        traces = EncodedTraces(everyStackOf: try! SyntheticTraceGenerator(configuration))
        self.cacheSize = cacheSize
        self.hashCacheThread = hashCacheThread
    }

    /// Emits `count` traces round-robin into a started engine, stops it (draining) and checks that
    /// every trace was reported. Returns a failure description, or nil.
    func runEngine(traces count: Int, measuring benchmark: Benchmark) -> String? {
        var configuration = EngineConfiguration()
        configuration.cacheSize = cacheSize
        configuration.symbolize.policy = .block
        configuration.hashCacheThread = hashCacheThread
        let reporter = CountingReporter()
        let engine = try! StagedEngine(
            configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: reporter)
        try! engine.start()
        benchmark.startMeasurement()
        traces.withRecords { records in
            var next = 0
            for _ in 0..<count {
                // As the poll stage does: the engine's hash/cache stage computes the hash.
                engine.source.emit { (trace) throws(RawTraceError) in try trace.loadDeferringHash(records[next]) }
                next += 1
                if next == records.count { next = 0 }
            }
        }
        engine.stopAndWait()
        benchmark.stopMeasurement()
        let statistics = engine.statistics()
        guard statistics.isConserved, statistics.reported == UInt64(count), reporter.sampleCount == UInt64(count) else {
            return "lost traces: \(statistics)"
        }
        return nil
    }

    /// The same traces through the Go-shaped handler on this thread.
    func runSerial(traces count: Int, measuring benchmark: Benchmark) {
        let reporter = CountingReporter()
        var handler = SerialTraceHandler(
            processor: UnsymbolizedTraceProcessor(), reporter: reporter, cacheSize: cacheSize)
        var trace = RawTrace()
        benchmark.startMeasurement()
        traces.withRecords { records in
            var next = 0
            for _ in 0..<count {
                try! trace.load(records[next])
                handler.handleTrace(trace)
                next += 1
                if next == records.count { next = 0 }
            }
        }
        benchmark.stopMeasurement()
        precondition(reporter.sampleCount == UInt64(count))
    }

    /// The same traces through the C hit loop (copy, XXH3, LRU lookup, count) on this thread.
    /// Returns a failure description, or nil.
    /// Whether the C loop reads records as the engine does (hit_loop.h's layout, which cannot
    /// include the engine's header): the fields where `RawTrace` finds them, and the bytes it
    /// leaves out of its hash left out of the engine's too. A description of the first difference.
    static func cLoopLayoutDisagreement() -> String? {
        guard TH_HIT_LOOP_HEADER_SIZE == RawTrace.headerSize else {
            return "the C loop reads \(TH_HIT_LOOP_HEADER_SIZE)-byte headers, the engine's are \(RawTrace.headerSize) bytes"
        }
        var record = [UInt8](repeating: 0, count: RawTrace.headerSize + 2 * RawTrace.frameSize)
        func store<T: FixedWidthInteger>(_ value: T, at offset: Int32) {
            withUnsafeBytes(of: value.littleEndian) { record.replaceSubrange(Int(offset)..<Int(offset) + MemoryLayout<T>.size, with: $0) }
        }
        store(UInt32(7), at: TH_HIT_LOOP_CPU_OFFSET)
        store(UInt16(1), at: TH_HIT_LOOP_KERNEL_FRAME_COUNT_OFFSET)
        store(UInt16(1), at: TH_HIT_LOOP_USER_FRAME_COUNT_OFFSET)
        var trace = RawTrace()
        var other = RawTrace()
        do {
            try record.withUnsafeBytes { try trace.load($0) }
            // Every byte the C loop does not hash changed: the engine's hash must not change.
            for offset in [Int(TH_HIT_LOOP_CPU_OFFSET), Int(TH_HIT_LOOP_RESERVED_OFFSET)] { record[offset] ^= 0xff }
            for offset in Int(TH_HIT_LOOP_UNHASHED_START)..<RawTrace.headerSize { record[offset] ^= 0xff }
            try record.withUnsafeBytes { try other.load($0) }
        } catch {
            return "the engine refused the C loop's record: \(error)"
        }
        guard trace.cpu == 7, trace.kernelFrameCount == 1, trace.userFrameCount == 1 else {
            return "the C loop's CPU and frame counts are not where the engine reads them"
        }
        guard trace.hash == other.hash else { return "bytes the C loop leaves out of its hash change the engine's" }
        return nil
    }

    func runCLoop(traces count: Int, measuring benchmark: Benchmark) -> String? {
        if let disagreement = Self.cLoopLayoutDisagreement() { return disagreement }
        guard let loop = th_hit_loop_create(UInt32(cacheSize)) else { return "out of memory" }
        defer { th_hit_loop_destroy(loop) }
        benchmark.startMeasurement()
        traces.withRecords { records in
            var next = 0
            for _ in 0..<count {
                let record = records[next]
                th_hit_loop_handle(loop, record.baseAddress, record.count)
                next += 1
                if next == records.count { next = 0 }
            }
        }
        benchmark.stopMeasurement()
        guard th_hit_loop_counted(loop) == UInt64(count) else { return "the C loop counted \(th_hit_loop_counted(loop)) of \(count)" }
        return nil
    }
}
