import Benchmark
import CStackCapture
import Symbolization
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

// The unwind stage's work on a warm snapshot: a real stack of this very process (a C recursion
// 8 deep, compiled without frame pointers, under the benchmark harness's own Swift frames: about
// 20 frames in all, to `_start`, as many as the harness's version calls through), copied as the
// sampler copies one (registers + 8 KiB from SP), walked again and again by the DWARF unwinder
// once its caches hold the process's mappings and the files' unwind tables. One scaled iteration
// is one snapshot.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput],
        warmupIterations: 1,
        scalingFactor: .kilo,
        maxDuration: .seconds(5),
        maxIterations: 20
    )

    Benchmark("Unwind a warm 20-frame snapshot of this process (DWARF CFI)") { benchmark in
        var record = SnapshotRecord.capture(depth: 7)
        let unwinder = try! DWARFUnwinder.preparedForOneWorker()
        let first = record.unwind(unwinder)  // builds the tables, reads the maps
        // Whole to `_start`, through the recursion's 8 C frames at least.
        if first.stop != .complete || record.walkedFrames < 16 {
            benchmark.error("the walk ended \(first.stop) after \(record.walkedFrames) frames, not at _start")
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(record.unwind(unwinder))
        }
    }

    for workers in [1, 2] {
        // A million traces an iteration: the rings' fill and drain are then a small part of it.
        Benchmark(
            "Unwind stage, \(workers) worker\(workers == 1 ? "" : "s"): \(UnwindStageWorkload.deep.frames)-frame snapshots (snapshot-bound)",
            configuration: .init(
                metrics: [.throughput, .wallClock, .cpuTotal], warmupIterations: 0, scalingFactor: .mega, maxDuration: .seconds(20),
                maxIterations: 3)
        ) { benchmark in
            if let failure = UnwindStageWorkload.deep.run(workers: workers, traces: benchmark.scaledIterations.count, measuring: benchmark) {
                benchmark.error(failure)
            }
        }
    }
}

/// A raw trace record laid out as the sampler sends it (trace_record.h): `placeholderFrames`
/// frame-pointer frames, then the snapshot. Unwound in place (`unwind`), it needs room for as many
/// frames as a record holds, so that the walk's frames, written over the placeholders, never reach
/// the snapshot and the record can be unwound again after resetting the frame count. Fed to an
/// engine, which copies it into a slot of the largest record's size, it can carry as few as the
/// sampler sends for code without frame pointers.
struct SnapshotRecord {
    let placeholderFrames: Int
    var bytes: [UInt8]
    var walkedFrames = 0

    /// A snapshot `depth` C calls below the calling thread's frames, or (`onNewThread`) below a
    /// new thread's start only.
    static func capture(
        depth: Int32, window: Int = 8192, onNewThread: Bool = false, placeholderFrames: Int = RawTrace.maxFrames
    ) -> SnapshotRecord {
        var registers = [UInt64](repeating: 0, count: 3)
        var stack = [UInt8](repeating: 0, count: window)
        let copied = stack.withUnsafeMutableBytes { buffer in
            onNewThread
                ? th_capture_stack_on_new_thread(depth, &registers, buffer.baseAddress, window)
                : th_capture_stack(depth, &registers, buffer.baseAddress, window)
        }
        let snapshot = RawTrace.headerSize + placeholderFrames * RawTrace.frameSize
        var bytes = [UInt8](repeating: 0, count: snapshot + RawTrace.snapshotHeaderSize + copied)
        bytes.withUnsafeMutableBytes { record in
            record.storeBytes(of: UInt32(getpid()), toByteOffset: 0, as: UInt32.self)  // pid
            record.storeBytes(of: UInt32(getpid()), toByteOffset: 4, as: UInt32.self)  // tid
            record.storeBytes(of: UInt16(placeholderFrames), toByteOffset: 14, as: UInt16.self)  // user frames
            record.storeBytes(of: registers[0], toByteOffset: snapshot, as: UInt64.self)
            record.storeBytes(of: registers[1], toByteOffset: snapshot + 8, as: UInt64.self)
            record.storeBytes(of: registers[2], toByteOffset: snapshot + 16, as: UInt64.self)
            record.storeBytes(of: UInt32(copied), toByteOffset: snapshot + 24, as: UInt32.self)
            stack.withUnsafeBytes { (record.baseAddress! + snapshot + RawTrace.snapshotHeaderSize).copyMemory(from: $0.baseAddress!, byteCount: copied) }
        }
        return SnapshotRecord(placeholderFrames: placeholderFrames, bytes: bytes)
    }

    /// Unwinds the record in place, as an unwind worker does, and makes it unwindable again.
    mutating func unwind(_ unwinder: DWARFUnwinder) -> UnwindOutcome {
        precondition(placeholderFrames == RawTrace.maxFrames, "in place, the walk needs room for every frame")
        let count = bytes.count
        let outcome = bytes.withUnsafeMutableBytes { record in
            let outcome = unwinder.unwind(record: record, byteCount: count, worker: 0)
            record.storeBytes(of: UInt16(placeholderFrames), toByteOffset: 14, as: UInt16.self)
            return outcome
        }
        walkedFrames = (outcome.byteCount - RawTrace.headerSize) / RawTrace.frameSize
        return outcome
    }
}
