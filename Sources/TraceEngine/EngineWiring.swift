import Synchronization
import TraceModel

/// Everything the stages share (but the processor and reporter, which the stages hold themselves): the rings between them, the slot pools, the doorbells, the
/// counters and the drain flags. Built once by `StagedEngine.init`; every field is a constant.
///
/// Topology (k = symbolize workers; every ring has one producer and one consumer):
///
///     (unwind[j] ◄─inputs[j]/outputs[j]─► source: see UnwindStage)
///     source ──sourceRing──► hash/cache ──symbolizeRings[i]──► symbolize[i] ──workerReportRings[i]──► report
///        ▲                    │  ▲  ▲                               │  ▲                                │  │
///        └───freeRawSlots─────┘  │  └────feedbackRings[i]───────────┘  └──────convertedReturns[i]───────┘  │
///                            hashReportRing ──────────────────────────────────────────────────────► report │
///                                └──────────────────────reportRawReturns◄───────────────────────────────────┘
final class EngineWiring: Sendable {
    let configuration: EngineConfiguration
    let clock: KTimeConverter
    let apmServiceNames = APMServiceNames()

    let rawSlots: SlotStorage<RawTrace>
    let convertedSlots: [SlotStorage<Trace>]

    let sourceRing: SPSCRing<UInt32>
    let freeRawSlots: SPSCRing<UInt32>
    let symbolizeRings: [SPSCRing<UInt32>]
    let feedbackRings: [SPSCRing<SymbolizeResult>]
    let hashReportRing: SPSCRing<ReportMessage>
    let workerReportRings: [SPSCRing<ReportMessage>]
    let reportRawReturns: SPSCRing<UInt32>
    let convertedReturns: [SPSCRing<UInt32>]

    let sourceBell = Doorbell()
    let hashBell = Doorbell()
    let workerBells: [Doorbell]
    let reportBell = Doorbell()

    /// Between the source and hash/cache, for records with stack snapshots (see `UnwindStage`).
    let unwind: UnwindStage?

    let sourceCounters = StageCounters()
    let hashCounters = StageCounters()
    let workerCounters: [StageCounters]
    let reportCounters = StageCounters()

    /// Set (releasing) by each stage when it has finished for good; read (acquiring) downstream.
    let sourceFinished = Atomic<Bool>(false)
    /// Set by `stop(drain: false)`: every stage leaves its loop, and every wait gives up.
    let abandoned = Atomic<Bool>(false)
    var isAbandoned: Bool { abandoned.load(ordering: .relaxed) }
    let hashFinished = Atomic<Bool>(false)
    let workersFinished = Atomic<Int>(0)

    init(configuration c: EngineConfiguration, clock: KTimeConverter, unwinder: (any SnapshotUnwinder)?) {
        configuration = c
        self.clock = clock
        unwind = unwinder.flatMap { c.unwind.workers > 0 ? UnwindStage(configuration: c.unwind, unwinder: $0, wait: c.wait) : nil }
        let k = c.symbolizeWorkers
        rawSlots = SlotStorage(count: c.rawTraceSlots) { RawTrace() }
        // Empty: a worker makes room in a slot when it first uses it (`SymbolizeStage`), so the
        // slots a low sampling rate never reaches cost no memory (1024 slots of 128 frames, 8 MiB).
        convertedSlots = (0..<k).map { _ in SlotStorage(count: c.convertedTraceSlots) { Trace() } }
        // Rings that carry slot ownership back are sized to the pool: they can never be full.
        sourceRing = SPSCRing(capacity: c.source.capacity)
        freeRawSlots = SPSCRing(capacity: c.rawTraceSlots)
        symbolizeRings = (0..<k).map { _ in SPSCRing(capacity: c.symbolize.capacity) }
        feedbackRings = (0..<k).map { _ in SPSCRing(capacity: c.rawTraceSlots) }
        hashReportRing = SPSCRing(capacity: c.report.capacity)
        workerReportRings = (0..<k).map { _ in SPSCRing(capacity: c.report.capacity) }
        reportRawReturns = SPSCRing(capacity: c.rawTraceSlots)
        convertedReturns = (0..<k).map { _ in SPSCRing(capacity: c.convertedTraceSlots) }
        workerBells = (0..<k).map { _ in Doorbell() }
        workerCounters = (0..<k).map { _ in StageCounters() }
        // Every raw slot starts free, at the source.
        for slot in 0..<UInt32(c.rawTraceSlots) { _ = freeRawSlots.push(slot) }
        freeRawSlots.resetOwners()
    }

    /// Which symbolize worker a BPF hash belongs to. The high bits: the caches index by the low ones.
    @inline(__always)
    func worker(for hash: HostTraceHash) -> Int {
        Int((hash.rawValue >> 32) % UInt64(configuration.symbolizeWorkers))
    }

    /// The id of an APM service name, 0 for none. The common case, no APM agent, does not touch
    /// the shared table: calling into it retained and released the one object hash/cache, the
    /// workers and report all use, a cache line they then passed around on every trace.
    @inline(__always)
    func apmServiceID(_ name: String) -> UInt32 { name.isEmpty ? 0 : apmServiceNames.id(name) }

    func meta(_ meta: SampleMeta) -> TraceEventMeta {
        TraceEventMeta(
            timestamp: clock.unixTime(meta.ktime), comm: meta.comm, pid: meta.pid, tid: meta.tid, cpu: meta.cpu,
            apmServiceName: meta.apmServiceName == 0 ? "" : apmServiceNames.name(meta.apmServiceName),
            origin: meta.weight.origin, offTime: meta.weight.offTime)
    }

    func statistics() -> EngineStatistics {
        func stats(_ stage: EngineStage, _ counters: StageCounters, _ rings: [Int]) -> StageStatistics {
            var counts: [EngineCounter: UInt64] = [:]
            for c in EngineCounter.allCases where counters.load(c) != 0 { counts[c] = counters.load(c) }
            return StageStatistics(stage: stage, counts: counts, outputHighWaterMark: rings.max() ?? 0)
        }
        var stages = [stats(.source, sourceCounters, [sourceRing.highWaterMark] + (unwind?.inputs.map(\.highWaterMark) ?? []))]
        for (i, counters) in (unwind?.counters ?? []).enumerated() {
            stages.append(stats(.unwind(worker: i), counters, [unwind!.outputs[i].highWaterMark]))
        }
        stages += [
            stats(.hashCache, hashCounters, symbolizeRings.map(\.highWaterMark) + [hashReportRing.highWaterMark]),
        ]
        for i in 0..<configuration.symbolizeWorkers {
            stages.append(stats(.symbolize(worker: i), workerCounters[i], [workerReportRings[i].highWaterMark]))
        }
        stages.append(stats(.report, reportCounters, []))
        return EngineStatistics(stages: stages)
    }
}
