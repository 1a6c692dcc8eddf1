import Benchmark
import Symbolization
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// The unwind stage inside a running engine, fed the same deep snapshot again and again: a C
/// recursion 100 deep on a thread of its own (about a hundred frames to the thread's start in a
/// few KiB of stack — small frames, as recursive C code has; walked by their CFI).
/// Walking it is most of a trace's work: the source copies the record into a snapshot slot, and
/// after the walk every trace is the same stack, a cache hit. Traces per second then measure how
/// the stage scales with `unwind.workers` — on this machine's CPUs, which the source, hash/cache
/// and report threads share with the workers.
struct UnwindStageWorkload {
    static let deep = UnwindStageWorkload(depth: 100)

    let depth: Int32

    /// Frames from the leaf to `_start` in the snapshot.
    var frames: Int {
        var probe = SnapshotRecord.capture(depth: depth, onNewThread: true)
        _ = probe.unwind(try! DWARFUnwinder.preparedForOneWorker())
        return probe.walkedFrames
    }

    /// Emits `count` snapshot records, stops the engine (draining) and checks that every one was
    /// unwound and reported. Returns a failure description, or nil.
    func run(workers: Int, traces count: Int, measuring benchmark: Benchmark) -> String? {
        // As the sampler sends it for code without frame pointers: the walk's leaf and one more
        // frame-pointer frame ahead of the snapshot.
        let record = SnapshotRecord.capture(depth: depth, onNewThread: true, placeholderFrames: 2)
        var probe = SnapshotRecord.capture(depth: depth, onNewThread: true)
        let probed = probe.unwind(try! DWARFUnwinder.preparedForOneWorker())
        guard probed.stop == .complete else {
            return "the snapshot's walk ended \(probed.stop) after \(probe.walkedFrames) frames, not at _start"
        }
        var configuration = EngineConfiguration()
        configuration.unwind.workers = workers
        let reporter = CountingReporter()
        let engine: StagedEngine<UnsymbolizedTraceProcessor, CountingReporter>
        do {
            engine = try StagedEngine(
                configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: reporter,
                unwinder: try DWARFUnwinder())
            try engine.start()
        } catch {
            return "engine: \(error)"
        }
        // Each worker's caches warm before the measurement: one record per worker's first sight.
        record.bytes.withUnsafeBytes { bytes in
            for _ in 0..<(64 * workers) { _ = engine.source.emitRecord(bytes) }
            engine.source.flush()
        }
        guard waitUntilReported(UInt64(64 * workers), reporter: reporter, engine: engine) else {
            engine.stopAndWait()
            return "the warm-up records were not all reported: \(engine.statistics())"
        }
        benchmark.startMeasurement()
        record.bytes.withUnsafeBytes { bytes in
            for index in 0..<count {
                _ = engine.source.emitRecord(bytes)
                // As the poll stage does after each round over the kernel's buffers.
                if index & 63 == 63 { engine.source.flush() }
            }
        }
        // Until the last trace is reported (the source forwards unwound records when it flushes);
        // stopping the engine, which joins its threads, is not the stage's throughput.
        let reported = waitUntilReported(UInt64(count + 64 * workers), reporter: reporter, engine: engine)
        benchmark.stopMeasurement()
        engine.stopAndWait()
        let statistics = engine.statistics()
        guard reported else { return "not every trace was reported within a minute: \(statistics)" }
        let expected = UInt64(count + 64 * workers)
        let unwound = (0..<workers).reduce(UInt64(0)) { $0 + (statistics.stage(.unwind(worker: $1))?[.unwindComplete] ?? 0) }
        guard statistics.isConserved, reporter.sampleCount == expected, unwound == expected else {
            return "\(unwound) of \(expected) unwound to _start, \(reporter.sampleCount) reported: \(statistics)"
        }
        return nil
    }
}

/// Flushes the source (it forwards unwound records when it does) until the reporter has seen
/// `count` samples, for at most a minute: a record dropped or degraded would otherwise hang the run.
private func waitUntilReported<P, R>(_ count: UInt64, reporter: CountingReporter, engine: StagedEngine<P, R>) -> Bool {
    let deadline = ContinuousClock.now + .seconds(60)
    while reporter.sampleCount < count {
        guard ContinuousClock.now < deadline else { return false }
        engine.source.flush()
        usleep(50)  // not a spin: the workers need the CPUs
    }
    return true
}

extension DWARFUnwinder {
    static func preparedForOneWorker() throws -> DWARFUnwinder {
        let unwinder = try DWARFUnwinder()
        unwinder.prepare(workers: 1)
        return unwinder
    }
}
