import KernelPath
import Symbolization
import SyntheticTraces
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// One path, run `count` times. The script runs each twice under callgrind (two counts) and
/// divides the difference, so set-up and thread start cost nothing per trace.
enum Workload: String, CaseIterable {
    case serialHit = "serial-hit", serialMiss = "serial-miss"
    case engineHit = "engine-hit", engineMiss = "engine-miss"
    case engineHitOnSource = "engine-hit-on-source", engineMissOnSource = "engine-miss-on-source"
    case xxh3 = "xxh3-18-frames", lruHit = "lru-get-hit", foldedCount = "folded-count"
    case perfRingDrain = "perf-ring-drain", perfRingRefill = "perf-ring-refill"
    case symbolizeWarm = "symbolize-warm-32-frames", elfSymbolLookup = "elf-symbol-lookup-libc"
    case pprofEncode = "pprof-encode-1024-stacks"

    /// The two operation counts the script runs (their difference cancels set-up): traces for
    /// most, whole profiles for the encoder.
    var counts: (small: Int, large: Int) {
        switch self {
        case .pprofEncode: (2, 6)
        case .symbolizeWarm: (20_000, 60_000)
        default: (100_000, 300_000)
        }
    }

    func run(_ count: Int) {
        switch self {
        // As EngineBenchmarks: 1024 stacks that always hit a cache of 16384, or 8192 round-robin
        // through caches of 4096 that always miss; 16 user and 2 kernel frames.
        case .serialHit: runSerial(distinctStacks: 1024, cacheSize: 16_384, count)
        case .serialMiss: runSerial(distinctStacks: 8192, cacheSize: 4096, count)
        case .engineHit: runEngine(distinctStacks: 1024, cacheSize: 16_384, on: .own, count)
        case .engineMiss: runEngine(distinctStacks: 8192, cacheSize: 4096, on: .own, count)
        case .engineHitOnSource: runEngine(distinctStacks: 1024, cacheSize: 16_384, on: .source, count)
        case .engineMissOnSource: runEngine(distinctStacks: 8192, cacheSize: 4096, on: .source, count)
        case .xxh3: runHash(count)
        case .lruHit: runLRUHit(count)
        case .foldedCount: runFoldedCount(count)
        case .perfRingDrain: runPerfRing(count, draining: true)
        case .perfRingRefill: runPerfRing(count, draining: false)
        case .symbolizeWarm: runSymbolize(count)
        case .elfSymbolLookup: runSymbolLookup(count)
        case .pprofEncode: runPprofEncode(count)
        }
    }
}

@inline(never) func keep<T>(_ value: T) {}

private func encodedTraces(distinctStacks: Int) -> EncodedTraces {
    var configuration = SyntheticTraceConfiguration()
    configuration.distinctStacks = distinctStacks
    configuration.userDepth = 16
    configuration.kernelDepth = 2
    return EncodedTraces(everyStackOf: try! SyntheticTraceGenerator(configuration))
}

private func runSerial(distinctStacks: Int, cacheSize: Int, _ count: Int) {
    let traces = encodedTraces(distinctStacks: distinctStacks)
    let reporter = CountingReporter()
    var handler = SerialTraceHandler(processor: UnsymbolizedTraceProcessor(), reporter: reporter, cacheSize: cacheSize)
    var trace = RawTrace()
    traces.withRecords { records in
        for i in 0..<count {
            try! trace.load(records[i % records.count])
            handler.handleTrace(trace)
        }
    }
    precondition(reporter.sampleCount == UInt64(count), "lost traces")
}

private func runEngine(distinctStacks: Int, cacheSize: Int, on thread: HashCacheThread, _ count: Int) {
    let traces = encodedTraces(distinctStacks: distinctStacks)
    var configuration = EngineConfiguration()
    configuration.cacheSize = cacheSize
    configuration.symbolize.policy = .block
    configuration.hashCacheThread = thread
    let reporter = CountingReporter()
    #if PRE_STAGED_ENGINE
    let engine = try! TraceEngine(configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: reporter)
    #else
    let engine = try! StagedEngine(configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: reporter)
    #endif
    try! engine.start()
    traces.withRecords { records in
        for i in 0..<count {
            engine.source.emit { (trace) throws(RawTraceError) in try trace.loadDeferringHash(records[i % records.count]) }
        }
    }
    #if PRE_STAGED_ENGINE
    engine.stop()
    #else
    engine.stopAndWait()
    #endif
    precondition(engine.statistics().reported == UInt64(count) && reporter.sampleCount == UInt64(count), "lost traces")
}

private func sampleTrace() -> RawTrace {
    var configuration = SyntheticTraceConfiguration()
    configuration.userDepth = 16
    var generator = try! SyntheticTraceGenerator(configuration)
    return generator.next(ktime: KTime(rawValue: 1))
}

private func runHash(_ count: Int) {
    var trace = sampleTrace()
    for _ in 0..<count {
        trace.updateHash()
        keep(trace.hash)
    }
}

private func runLRUHit(_ count: Int) {
    var cache = LRUCache<HostTraceHash, TraceHash>(capacity: 16_384)
    let key = { (i: Int) in HostTraceHash(rawValue: UInt64(i) &* 0x9e37_79b9_7f4a_7c15) }
    for i in 0..<16_384 { _ = cache.add(key(i), TraceHash(high: 0, low: UInt64(i))) }
    for i in 0..<count { keep(cache.get(key(i % 16_384))) }
}

private func runFoldedCount(_ count: Int) {
    let reporter = FoldedStacksReporter()
    let traces = (0..<1024).map { stack in
        var trace = Trace(reservingCapacity: 16)
        for frame in 0..<16 {
            trace.append(file: FileID(high: 1, low: 1), lineno: UInt64(stack * 64 + frame), type: .native, symbol: "function_\(frame)")
        }
        #if PRE_STAGED_ENGINE
        trace.hash = trace.computeHash()
        #else
        trace.updateHash()
        #endif
        return trace
    }
    for trace in traces { reporter.reportFramesForTrace(trace) }
    let meta = TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm("bench"), pid: 1, tid: 1, cpu: 0)
    for i in 0..<count { reporter.reportCountForTrace(traces[i % traces.count].hash, count: 1, meta: meta) }
}

/// Refills a ring in plain memory with 64 records and drains it (or, for the refill's own cost,
/// only refills it): `perf-ring-drain` minus `perf-ring-refill` is the reader's cost a record.
private func runPerfRing(_ count: Int, draining: Bool) {
    let trace = sampleTrace()
    var payload = [UInt8](repeating: 0, count: trace.encodedByteCount)
    payload.withUnsafeMutableBytes { _ = trace.encode(into: $0) }
    let ring = MemoryPerfRing(records: 64, payload: payload)
    for _ in 0..<count / 64 {
        ring.refill()
        if draining {
            var bytes = 0
            ring.reader.drain(maxRecords: .max) { bytes += $0.count; return true }
            keep(bytes)
        } else {
            ring.discard()  // as a drain leaves it, without reading
        }
    }
}

/// As SymbolizationBenchmarks: a 32-frame native trace of this process (libc and Swift runtime
/// functions), converted again and again once the caches are warm, and hashed (the symbolizer
/// did that itself before the engine took it over).
private func runSymbolize(_ count: Int) {
    let symbolizer = try! NativeSymbolizer()
    let names = ["malloc", "free", "calloc", "realloc", "qsort", "fopen", "fclose", "printf", "read", "write",
                 "pthread_create", "pthread_join", "getpid", "open", "close", "mmap", "munmap", "fwrite",
                 "swift_retain", "swift_release", "swift_allocObject", "swift_beginAccess", "swift_endAccess",
                 "swift_bridgeObjectRetain", "swift_once", "swift_getTypeByMangledNameInContext", "swift_dynamicCast",
                 "swift_conformsToProtocol", "swift_isUniquelyReferenced_nonNull_native", "swift_task_create",
                 "swift_release_n", "swift_retain_n"]
    let frames = names.enumerated().map { i, name in
        Frame(addressOrLine: UInt64(UInt(bitPattern: dlsym(nil, name)!)) + 4, type: .native, isReturnAddress: i > 0)
    }
    let raw = try! RawTrace(pid: UInt32(getpid()), tid: UInt32(getpid()), userFrames: frames)
    var trace = Trace(reservingCapacity: 32)
    for _ in 0..<count {
        symbolizer.convertTrace(raw, into: &trace)
        #if !PRE_STAGED_ENGINE
        trace.updateHash()
        #endif
        keep(trace.hash)
    }
}

private func runSymbolLookup(_ count: Int) {
    let candidates: [String] = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"]
    let libc = candidates.first { access($0, R_OK) == 0 }!
    let table = try! SymbolTable.load(path: libc)
    let probes = (0..<1024).map { UInt64($0) &* 0x2f1 % 0x1d0000 + 0x28000 }
    for i in 0..<count { keep(table.symbolIndex(containing: probes[i % probes.count])) }
}

/// As MicroBenchmarks: 1024 stacks of 16 frames in 4 processes, encoded as a gzipped pprof.
private func runPprofEncode(_ count: Int) {
    let reporter = ProfileReporter(samplingPeriod: .milliseconds(10))
    reporter.reportExecutable(ExecutableMetadata(fileID: FileID(high: 1, low: 1), fileName: "/usr/bin/bench", buildID: "0123abcd"))
    for stack in 0..<1024 {
        var trace = Trace(reservingCapacity: 16)
        for frame in 0..<16 {
            trace.append(
                file: FileID(high: 1, low: 1), lineno: UInt64(stack % 64 * 64 + frame), type: .native,
                mappingStart: 0x40_0000, mappingEnd: 0x50_0000, symbol: "function_\(stack % 64)_\(frame)")
        }
        #if PRE_STAGED_ENGINE
        trace.hash = trace.computeHash()
        #else
        trace.updateHash()
        #endif
        reporter.reportFramesForTrace(trace)
        let meta = TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm("bench"), pid: UInt32(stack % 4), tid: 1, cpu: 0)
        reporter.reportCountForTrace(trace.hash, count: UInt16(stack % 7 + 1), meta: meta)
    }
    for _ in 0..<count { keep(try! reporter.gzippedPprof(start: UnixTime64(rawValue: 0), duration: .seconds(10)).count) }
}
