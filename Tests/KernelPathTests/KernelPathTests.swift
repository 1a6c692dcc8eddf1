import Foundation
import KernelPath
import LinuxSystem
import Synchronization
import Testing
import TraceEngine
import TraceHandler
import TraceModel
import TraceReporters

/// The kernel path for real: BPF programs loaded into this kernel, records through perf buffers
/// and the BPF ring buffer into the engine. Skipped, with the reason, where BPF is not permitted.
@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct KernelPathTests {
    /// Every getppid from this process is one record attempt; each attempt is received by the
    /// engine or counted lost (perf: by the kernel's LOST records; ring buffer: by the program).
    @Test(arguments: KernelOutputConfiguration.Kind.allCases)
    func everyGeneratedRecordIsReceivedOrCountedLost(kind: KernelOutputConfiguration.Kind) async throws {
        var output = KernelOutputConfiguration()
        output.kind = kind
        output.perCPUBufferBytes = 64 << 10  // small: the burst below overflows it
        output.ringBufferBytes = 64 << 10
        output.wakeupWatermarkBytes = 16 << 10
        let generator = try TracepointGenerator(pid: getpid(), frameCount: 8, distinctStacks: 64, output: output)
        defer { generator.close() }

        let reporter = CountingReporter()
        var configuration = EngineConfiguration()
        configuration.symbolize.policy = .block
        let engine = try StagedEngine(configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: reporter)
        try engine.start()
        let poll = try KernelPollStage(buffers: generator.buffers, configuration: output)
        try engine.runSource(name: "th-poll") { source, isStopRequested in
            poll.run(into: source, isStopRequested: isStopRequested)
        }

        try await WorkerThread.run(name: "test-body") { TracepointGenerator.generate(count: 200_000) }
        // The kernel writes a LOST record only before its next successful record: once the buffers
        // are drained, one more call flushes the count of the last losses.
        var totals = generator.buffers.totals
        for _ in 0..<100 where generator.counters().attempts != totals.records + totals.lost + lostByProgram(generator, kind) {
            try await Task.sleep(for: .milliseconds(20))
            TracepointGenerator.generate(count: 1)
            try await Task.sleep(for: .milliseconds(20))
            totals = generator.buffers.totals
        }
        generator.close()
        poll.wake()
        await engine.stop()

        totals = generator.buffers.totals
        let counters = generator.counters()
        let statistics = engine.statistics()
        #expect(counters.attempts >= 200_000)
        #expect(counters.attempts == totals.records + totals.lost + lostByProgram(generator, kind), "\(counters); \(totals)")
        #expect(totals.corrupt == 0)
        #expect(statistics.produced == totals.records)
        #expect(statistics.isConserved, "\(statistics)")
        #expect(reporter.sampleCount == statistics.reported)
        #expect(totals.lost + lostByProgram(generator, kind) > 0, "the burst was meant to overflow a 64 KiB buffer")
    }

    /// The ring buffer has no LOST records: its program counts the records it could not reserve.
    func lostByProgram(_ generator: TracepointGenerator, _ kind: KernelOutputConfiguration.Kind) -> UInt64 {
        kind == .ringBuffer ? generator.counters().outputErrors : 0
    }
}
