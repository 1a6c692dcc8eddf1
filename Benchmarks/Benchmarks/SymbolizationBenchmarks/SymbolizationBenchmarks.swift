import Benchmark
import Symbolization
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

// Warm symbolization: a 32-frame native trace of this very process (addresses of functions in
// libc and the Swift runtime, found with dlsym), converted again and again once the caches hold
// the process's mappings and the files' symbol tables. One scaled iteration is one trace.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: 1,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 20
    )

    Benchmark("Symbolize a warm 32-frame native trace") { benchmark in
        let symbolizer = sharedSymbolizer
        let raw = nativeTraceOfThisProcess(frames: 32)
        var trace = Trace(reservingCapacity: 32)
        symbolizer.convertTrace(raw, into: &trace)  // warm the caches
        let unnamed = trace.frameTypes.indices.filter { trace.frameTypes[$0].isError }.map { trace.symbols[$0] ?? "?" }
        if !unnamed.isEmpty { benchmark.error("frames not named: \(unnamed)") }
        // As the engine's symbolize stage calls it: the raw trace read in place from its slot.
        withUnsafePointer(to: raw) { slot in
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                symbolizer.convertTrace(inPlace: UnsafeBufferPointer(start: slot, count: 1).span, into: &trace)
                blackHole(trace.hash)
            }
        }
    }

    // The floor under it: filling the same 32 columns with names already made, and hashing.
    Benchmark("Fill a 32-frame converted trace (no lookups)") { benchmark in
        let names = (0..<32).map { "function_\($0)" }
        var trace = Trace(reservingCapacity: 32)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            trace.withFrameRows(count: 32) { rows in
                for i in 0..<32 {
                    rows.set(i, file: FileID(high: 1, low: UInt64(i)), lineno: UInt64(i) * 16, type: .native,
                             mappingStart: 0x1000, mappingEnd: 0x2000, mappingFileOffset: 0, symbol: names[i])
                }
            }
            trace.updateHash()
            blackHole(trace.hash)
        }
    }
}

/// One symbolizer for every run: reading kallsyms is start-up work, not what is measured.
let sharedSymbolizer = try! NativeSymbolizer()

/// 32 frames at functions libc and libswiftCore export (not IFUNCs such as memcpy: dlsym gives
/// their selected implementation, which libc does not export by name).
func nativeTraceOfThisProcess(frames count: Int) -> RawTrace {
    let names = ["malloc", "free", "calloc", "realloc", "qsort", "fopen", "fclose", "printf", "read", "write",
                 "pthread_create", "pthread_join", "getpid", "open", "close", "mmap", "munmap", "fwrite",
                 "swift_retain", "swift_release", "swift_allocObject", "swift_beginAccess", "swift_endAccess",
                 "swift_bridgeObjectRetain", "swift_once", "swift_getTypeByMangledNameInContext", "swift_dynamicCast",
                 "swift_conformsToProtocol", "swift_isUniquelyReferenced_nonNull_native", "swift_task_create",
                 "swift_release_n", "swift_retain_n"]
    var frames: [Frame] = []
    for (i, name) in names.prefix(count).enumerated() {
        guard let address = dlsym(nil /* RTLD_DEFAULT */, name) else { continue }
        frames.append(Frame(addressOrLine: UInt64(UInt(bitPattern: address)) + 4, type: .native, isReturnAddress: i > 0))
    }
    precondition(frames.count == count, "only \(frames.count) of the functions were found")
    return try! RawTrace(pid: UInt32(getpid()), tid: UInt32(getpid()), userFrames: frames)
}
