import LinuxSystem
import Synchronization
import SyntheticTraces
import Testing
import TraceEngine
import TraceHandler
import TraceModel

/// The unwind stage with a stand-in unwinder: records with stack snapshots reach the engine as
/// the unwinder rewrote them, every policy of its edge holds, and the conservation law with it.
@Suite struct UnwindStageTests {
    /// Appends three user frames (`ip`, `0x1000`, `0x2000`) in place of the frame-pointer ones,
    /// optionally slowly; counts its calls.
    final class FakeUnwinder: SnapshotUnwinder, @unchecked Sendable {
        let delay: Duration?
        let calls = Atomic<Int>(0)
        private(set) var preparedWorkers = 0

        init(delay: Duration? = nil) { self.delay = delay }

        func prepare(workers: Int) { preparedWorkers = workers }

        func unwind(record: UnsafeMutableRawBufferPointer, byteCount: Int, worker: Int) -> UnwindOutcome {
            calls.add(1, ordering: .relaxed)
            if let delay { spin(delay) }
            let kernel = Int(record.load(fromByteOffset: 12, as: UInt16.self))
            let user = Int(record.load(fromByteOffset: 14, as: UInt16.self))
            let ip = record.loadUnaligned(fromByteOffset: RawTrace.headerSize + (kernel + user) * RawTrace.frameSize, as: UInt64.self)
            for (index, address) in [ip, 0x1000, 0x2000].enumerated() {
                let offset = RawTrace.headerSize + (kernel + index) * RawTrace.frameSize
                record.storeBytes(of: UInt64(0), toByteOffset: offset, as: UInt64.self)
                record.storeBytes(of: address, toByteOffset: offset + 8, as: UInt64.self)
                record.storeBytes(of: UInt64(3 | (index > 0 ? 1 << 8 : 0)), toByteOffset: offset + 16, as: UInt64.self)  // native
            }
            record.storeBytes(of: UInt16(3), toByteOffset: 14, as: UInt16.self)
            return UnwindOutcome(byteCount: RawTrace.headerSize + (kernel + 3) * RawTrace.frameSize, stop: .complete, keptFramePointerStack: false)
        }
    }

    /// Counts the user frames of every trace it converts.
    final class FrameCountingProcessor: TraceProcessor, @unchecked Sendable {
        let userFrames = Mutex<[Int: Int]>([:])

        func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String { "" }
        func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
            let user = rawTrace.userFrameCount
            userFrames.withLock { $0[user, default: 0] += 1 }
            trace.assignUnsymbolized(rawTrace)
        }
        func symbolizationComplete(traceCaptureKTime: KTime) {}
    }

    /// Distinct traces (two user frames each) encoded as the sampler sends them, every other one
    /// with a 64-byte snapshot behind its frames.
    static func records(count: Int) -> [[UInt8]] {
        var configuration = SyntheticTraceConfiguration()
        configuration.distinctStacks = count
        configuration.userDepth = 2
        configuration.kernelDepth = 1
        let generator = try! SyntheticTraceGenerator(configuration)
        var trace = RawTrace()
        return (0..<count).map { stack in
            generator.write(stack: stack, into: &trace, ktime: KTime(rawValue: UInt64(stack + 1)))
            var bytes = [UInt8](repeating: 0, count: trace.encodedByteCount)
            bytes.withUnsafeMutableBytes { _ = trace.encode(into: $0) }
            if stack % 2 == 0 {
                var snapshot = [UInt8](repeating: 0, count: RawTrace.snapshotHeaderSize + 64)
                snapshot.withUnsafeMutableBytes { s in
                    s.storeBytes(of: UInt64(0x7000 + stack), toByteOffset: 0, as: UInt64.self)  // ip
                    s.storeBytes(of: UInt64(0x7ffc_0000), toByteOffset: 8, as: UInt64.self)  // sp
                    s.storeBytes(of: UInt32(64), toByteOffset: 24, as: UInt32.self)  // stack bytes
                }
                bytes += snapshot
            }
            return bytes
        }
    }

    private func run(
        _ records: [[UInt8]], configuration: EngineConfiguration, unwinder: FakeUnwinder, processor: FrameCountingProcessor
    ) async throws -> (EngineStatistics, [EmitOutcome]) {
        try await WorkerThread.run(name: "test-body") {
            let engine = try StagedEngine(configuration: configuration, processor: processor, reporter: TallyReporter(), unwinder: unwinder)
            try engine.start()
            let outcomes = records.map { record in record.withUnsafeBytes { engine.source.emitRecord($0) } }
            engine.stopAndWait()
            return (engine.statistics(), outcomes)
        }
    }

    private func configuration(workers: Int, policy: BackpressurePolicy, slots: Int = 256) -> EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.symbolize.policy = .block
        configuration.unwind.workers = workers
        configuration.unwind.edge = EdgeConfiguration(capacity: min(slots, 256), policy: policy)
        configuration.unwind.snapshotSlots = slots
        return configuration
    }

    @Test(arguments: [1, 2])
    func snapshotRecordsReachTheEngineUnwound(workers: Int) async throws {
        let records = Self.records(count: 2_000)
        let unwinder = FakeUnwinder()
        let processor = FrameCountingProcessor()
        let (statistics, outcomes) = try await run(records, configuration: configuration(workers: workers, policy: .block, slots: 16),
                                                   unwinder: unwinder, processor: processor)
        #expect(unwinder.preparedWorkers == workers)
        #expect(outcomes.allSatisfy { $0 == .queued })
        #expect(unwinder.calls.load(ordering: .relaxed) == 1_000)
        // Every distinct trace is converted once: half unwound to 3 user frames, half as sent (2).
        #expect(processor.userFrames.withLock { $0 } == [3: 1_000, 2: 1_000])
        #expect(statistics.isConserved, "\(statistics)")
        #expect(statistics.reported == 2_000)
        let unwound = (0..<workers).reduce(UInt64(0)) { $0 + (statistics.stage(.unwind(worker: $1))?[.unwindComplete] ?? 0) }
        #expect(unwound == 1_000)
    }

    @Test func underDropAFullStageDropsAndCountsThem() async throws {
        let records = Self.records(count: 400)
        let unwinder = FakeUnwinder(delay: .microseconds(200))
        let (statistics, outcomes) = try await run(records, configuration: configuration(workers: 1, policy: .drop, slots: 2),
                                                   unwinder: unwinder, processor: FrameCountingProcessor())
        let dropped = outcomes.filter { $0 == .dropped }.count
        #expect(dropped > 0)
        #expect(statistics.total(.dropUnwindFull) == UInt64(dropped))
        #expect(unwinder.calls.load(ordering: .relaxed) == 200 - dropped)
        #expect(statistics.isConserved, "\(statistics)")
        #expect(statistics.reported == UInt64(400 - dropped))
    }

    @Test func underDegradeAFullStageSendsTheFramePointerStack() async throws {
        let records = Self.records(count: 400)
        let unwinder = FakeUnwinder(delay: .microseconds(200))
        let processor = FrameCountingProcessor()
        let (statistics, outcomes) = try await run(records, configuration: configuration(workers: 1, policy: .degrade, slots: 2),
                                                   unwinder: unwinder, processor: processor)
        #expect(outcomes.allSatisfy { $0 == .queued })
        let degraded = statistics.total(.degradedUnwind)
        #expect(degraded > 0)
        #expect(UInt64(unwinder.calls.load(ordering: .relaxed)) + degraded == 200)
        #expect(processor.userFrames.withLock { $0[2] } == 200 + Int(degraded))
        #expect(statistics.isConserved, "\(statistics)")
        #expect(statistics.reported == 400)
    }

    @Test func withoutAnUnwinderSnapshotRecordsGoOnAsSent() async throws {
        let records = Self.records(count: 100)
        let processor = FrameCountingProcessor()
        let (statistics, _) = try await WorkerThread.run(name: "test-body") {
            let engine = try StagedEngine(configuration: EngineConfiguration(), processor: processor, reporter: TallyReporter())
            try engine.start()
            let outcomes = records.map { record in record.withUnsafeBytes { engine.source.emitRecord($0) } }
            engine.stopAndWait()
            return (engine.statistics(), outcomes)
        }
        #expect(processor.userFrames.withLock { $0 } == [2: 100])
        #expect(statistics.isConserved && statistics.reported == 100)
    }
}
