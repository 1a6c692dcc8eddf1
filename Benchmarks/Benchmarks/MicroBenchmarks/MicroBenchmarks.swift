import Benchmark
import KernelPath
import Symbolization
import SyntheticTraces
import TraceHandler
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

// The pieces on the per-trace paths, one operation per scaled iteration. (Names without spaces:
// package-benchmark 1.38 writes threshold files with underscores but reads them by the raw name.) CI checks their malloc
// counts against Thresholds/ (`swift package benchmark thresholds check --metric mallocCountTotal`):
// allocation counts are deterministic, wall-clock time on a shared machine is not.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        warmupIterations: 1,
        scalingFactor: .kilo,
        maxDuration: .seconds(1),
        maxIterations: 10
    )

    Benchmark("lru-get-hit-of-16384") { benchmark in
        var cache = LRUCache<HostTraceHash, TraceHash>(capacity: 16_384)
        for key in 0..<UInt64(16_384) { _ = cache.add(HostTraceHash(rawValue: key &* 0x9e37_79b9_7f4a_7c15), TraceHash(high: 0, low: key)) }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            blackHole(cache.get(HostTraceHash(rawValue: UInt64(i % 16_384) &* 0x9e37_79b9_7f4a_7c15)))
        }
    }

    Benchmark("lru-add-evicting") { benchmark in
        var cache = LRUCache<HostTraceHash, TraceHash>(capacity: 1024)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            blackHole(cache.add(HostTraceHash(rawValue: UInt64(i) &* 0x9e37_79b9_7f4a_7c15), TraceHash(high: 0, low: UInt64(i))))
        }
    }

    Benchmark("xxh3-bpf-hash-18-frames") { benchmark in
        var trace = sampleTrace(depth: 16)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            trace.updateHash()
            blackHole(trace.hash)
        }
    }

    Benchmark("perf-ring-drain-1024-records") { benchmark in
        let ring = FakePerfRing(records: 1024, payload: sampleRecordBytes(depth: 16))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            ring.refill()
            var bytes = 0
            ring.reader.drain(maxRecords: .max) { bytes += $0.count; return true }
            blackHole(bytes)
        }
    }

    Benchmark("elf-symbol-lookup-libc") { benchmark in
        let table = try! SymbolTable.load(path: libcPath())
        let probes = (0..<1024).map { UInt64($0) &* 0x2f1 % 0x1d0000 + 0x28000 }
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            blackHole(table.symbolIndex(containing: probes[i % probes.count]))
        }
    }

    // Counting, then rendering 1024 stacks: the reporter keeps interned frames and folds each
    // stack's text only here (one allocation a line, and the line with its count).
    Benchmark("folded-stacks-count-and-render") { benchmark in
        let reporter = FoldedStacksReporter()
        let traces = (0..<1024).map { stack in
            var trace = Trace(reservingCapacity: 16)
            for frame in 0..<16 { trace.append(file: FileID(high: 1, low: 1), lineno: UInt64(stack * 64 + frame), type: .native, symbol: "function_\(frame)") }
            trace.updateHash()
            return trace
        }
        for trace in traces { reporter.reportFramesForTrace(trace) }
        let meta = TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm("bench"), pid: 1, tid: 1, cpu: 0)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            reporter.reportCountForTrace(traces[i % traces.count].hash, count: 1, meta: meta)
        }
        blackHole(reporter.foldedLines().count)
    }

    // One whole pprof profile per iteration: 1024 stacks of 16 frames in 4 processes, encoded and
    // gzipped as `profile` writes it at the end of a run. Its malloc count moves by a few between
    // iterations (the sort's scratch buffers follow the dictionary's order), hence the tolerance.
    Benchmark(
        "pprof-encode-1024-stacks",
        configuration: .init(scalingFactor: .one, thresholds: [.mallocCountTotal: .init(absolute: [.p90: 16])])
    ) { benchmark in
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(10))
        reporter.reportExecutable(ExecutableMetadata(fileID: FileID(high: 1, low: 1), fileName: "/usr/bin/bench", buildID: "0123abcd"))
        for stack in 0..<1024 {
            var trace = Trace(reservingCapacity: 16)
            for frame in 0..<16 {
                trace.append(
                    file: FileID(high: 1, low: 1), lineno: UInt64(stack % 64 * 64 + frame), type: .native,
                    mappingStart: 0x40_0000, mappingEnd: 0x50_0000, symbol: "function_\(stack % 64)_\(frame)")
            }
            trace.updateHash()
            reporter.reportFramesForTrace(trace)
            let meta = TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm("bench"), pid: UInt32(stack % 4), tid: 1, cpu: 0)
            reporter.reportCountForTrace(trace.hash, count: UInt16(stack % 7 + 1), meta: meta)
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try reporter.gzippedPprof(start: UnixTime64(rawValue: 0), duration: .seconds(10)).count)
        }
    }
}

func sampleTrace(depth: Int) -> RawTrace {
    var configuration = SyntheticTraceConfiguration()
    configuration.userDepth = depth
    var generator = try! SyntheticTraceGenerator(configuration)
    return generator.next(ktime: KTime(rawValue: 1))
}

func sampleRecordBytes(depth: Int) -> [UInt8] {
    let trace = sampleTrace(depth: depth)
    var bytes = [UInt8](repeating: 0, count: trace.encodedByteCount)
    bytes.withUnsafeMutableBytes { _ = trace.encode(into: $0) }
    return bytes
}

func libcPath() -> String {
    for path in ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"] where access(path, R_OK) == 0 {
        return path
    }
    fatalError("no libc.so.6 found")
}

/// A perf ring in plain memory, refilled with the same records each time (the kernel's part).
final class FakePerfRing {
    let metadata: UnsafeMutableRawPointer
    let data: UnsafeMutableRawBufferPointer
    let reader: PerfRingReader
    private let image: [UInt8]
    private var head: UInt64 = 0

    init(records: Int, payload: [UInt8]) {
        let size = (8 + 4 + payload.count + 7) & ~7
        var image: [UInt8] = []
        for _ in 0..<records {
            var record = [UInt8](repeating: 0, count: size)
            record.withUnsafeMutableBytes { bytes in
                bytes.storeBytes(of: UInt32(9), as: UInt32.self)  // PERF_RECORD_SAMPLE
                bytes.storeBytes(of: UInt16(size), toByteOffset: 6, as: UInt16.self)
                bytes.storeBytes(of: UInt32(size - 12), toByteOffset: 8, as: UInt32.self)
            }
            record.replaceSubrange(12..<12 + payload.count, with: payload)
            image += record
        }
        self.image = image
        var capacity = 4096
        while capacity < image.count { capacity *= 2 }
        metadata = .allocate(byteCount: 4096, alignment: 4096)
        metadata.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        data = .allocate(byteCount: capacity, alignment: 8)
        reader = PerfRingReader(metadata: metadata, data: UnsafeRawBufferPointer(data))
    }

    /// Writes every record again at the head and publishes it (data_head at offset 1024).
    func refill() {
        let mask = UInt64(data.count - 1)
        for (i, byte) in image.enumerated() { data[Int((head + UInt64(i)) & mask)] = byte }
        head += UInt64(image.count)
        metadata.storeBytes(of: head, toByteOffset: 1024, as: UInt64.self)
    }
}
