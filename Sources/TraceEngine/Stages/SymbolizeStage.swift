import CLinuxShims
import TraceModel

/// One symbolize worker: converts the raw traces hash/cache sends it (`convertTrace(_:into:)`, in
/// place into its own converted-trace slots), sends each to report, and answers hash/cache with
/// the user-mode hash. Workers share nothing but the processor, which is `Sendable`.
final class SymbolizeStage<Processor: TraceProcessor>: @unchecked Sendable {
    // @unchecked: all mutable state belongs to the worker's one thread.
    private let wiring: EngineWiring
    private let processor: Processor
    private let worker: Int
    private let slots: SlotStorage<Trace>
    private let neighbours: [Doorbell]
    // Per-trace parts of the wiring, held directly (no retain/release through `wiring`).
    private let rawSlots: SlotStorage<RawTrace>
    private let reportRing: SPSCRing<ReportMessage>
    private let feedbackRing: SPSCRing<SymbolizeResult>
    private let returns: SPSCRing<UInt32>
    private let counters: StageCounters
    /// The mutable state, in memory of its own (a class's `var`s pay an exclusivity check per access).
    private let state: UnsafeMutablePointer<SymbolizeWorkerState>

    private var freeSlots: [UInt32] {
        _read { yield state.pointee.freeSlots }
        _modify { yield &state.pointee.freeSlots }
    }
    private var idler: Idler {
        _read { yield state.pointee.idler }
        _modify { yield &state.pointee.idler }
    }

    init(wiring: EngineWiring, processor: Processor, worker: Int) {
        self.wiring = wiring
        self.processor = processor
        self.worker = worker
        slots = wiring.convertedSlots[worker]
        neighbours = [wiring.hashBell, wiring.reportBell]
        rawSlots = wiring.rawSlots
        reportRing = wiring.workerReportRings[worker]
        feedbackRing = wiring.feedbackRings[worker]
        returns = wiring.convertedReturns[worker]
        counters = wiring.workerCounters[worker]
        state = .allocate(capacity: 1)
        state.initialize(to: SymbolizeWorkerState(
            freeSlots: Array((0..<UInt32(slots.count)).reversed()),
            idler: Idler(wiring.configuration.wait, doorbell: wiring.workerBells[worker])))
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    func run() {
        let input = wiring.symbolizeRings[worker]
        let batch = wiring.configuration.batchSize
        while !wiring.isAbandoned {
            reclaim()
            let traces = input.readable(maxCount: min(batch, max(freeSlots.count, 1)))
            for (index, rawSlot) in traces.enumerated() {
                if index + prefetchDistance < traces.count {  // as hash/cache does (see there)
                    th_prefetch_read(rawSlots.pointer(traces[traces.startIndex + index + prefetchDistance]), prefetchBytes)
                }
                convert(rawSlot)
            }
            input.release(traces.count)
            if traces.count > 0 {
                publish()
                Doorbell.ring(neighbours)
                idler.workDone()
                continue
            }
            if wiring.hashFinished.load(ordering: .acquiring) && input.approximateCount == 0 { break }
            idler.idle { input.approximateCount > 0 || self.wiring.hashFinished.load(ordering: .acquiring) || self.wiring.isAbandoned }
        }
        wiring.workersFinished.add(1, ordering: .releasing)  // pairs with report's acquiring load
        Doorbell.ring(neighbours)
    }

    private func convert(_ rawSlot: UInt32) {
        counters.add(.received)
        guard let slot = takeFreeSlot() else { return }  // abandoned: left in flight, stop counts it
        let raw = rawSlots.pointer(rawSlot)
        let trace = slots.pointer(slot)
        // A slot's first use: seven allocations, once. Slots are reused most recent first, so a
        // low sampling rate uses few of them.
        if trace.pointee.frameCapacity < RawTrace.maxFrames { trace.pointee.reserveFrames(RawTrace.maxFrames) }
        let view = UnsafeBufferPointer(start: raw, count: 1)  // the slot, lent for the calls below
        processor.convertTrace(inPlace: view.span, into: &trace.pointee)
        trace.pointee.updateHash()  // the hash is the handler's, not the processor's (TraceProcessor)
        let umHash = trace.pointee.hash
        let apm = processor.maybeNotifyAPMAgent(inPlace: view.span, umTraceHash: umHash, count: UInt16(clamping: raw.pointee.count))
        let message = ReportMessage(
            kind: .converted, slot: slot, umHash: umHash,
            meta: SampleMeta(raw, apmServiceName: wiring.apmServiceID(apm)))
        let delivered = send(message)
        if delivered { counters.add(.emitted) } else { freeSlots.append(slot) }
        processor.symbolizationComplete(traceCaptureKTime: raw.pointee.ktime)
        // Sized to the raw pool: never full.
        let answered = feedbackRing.appendUnpublished(SymbolizeResult(rawSlot: rawSlot, bpfHash: raw.pointee.hash, umHash: umHash, delivered: delivered))
        precondition(answered, "feedback ring overflow")
    }

    private func send(_ message: ReportMessage) -> Bool {
        let ring = reportRing
        while !ring.appendUnpublished(message) {
            if wiring.configuration.report.policy == .drop {
                counters.add(.dropReportRingFull)
                return false
            }
            wait { ring.approximateCount < ring.capacity }
            if wiring.isAbandoned { return false }
        }
        return true
    }

    /// A converted-trace slot; waits for report to return one when all are out (nil: abandoned).
    private func takeFreeSlot() -> UInt32? {
        while freeSlots.isEmpty {
            reclaim()
            if freeSlots.isEmpty {
                let returns = self.returns
                wait { returns.approximateCount > 0 }
                if wiring.isAbandoned { return nil }
            }
        }
        return freeSlots.removeLast()
    }

    private func reclaim() {
        let returned = returns.readable(maxCount: slots.count)
        freeSlots.append(contentsOf: returned)
        returns.release(returned.count)
    }

    /// Shows report and hash/cache this batch's messages: one index store per ring a batch.
    private func publish() {
        reportRing.publish()
        feedbackRing.publish()
    }

    private func wait(_ ready: () -> Bool) {
        publish()
        Doorbell.ring(neighbours)
        idler.workDone()
        let wiring = self.wiring
        while !ready() && !wiring.isAbandoned { idler.idle { ready() || wiring.isAbandoned } }
    }
}

// Outside the generic stage on purpose (see HashCacheState).
private struct SymbolizeWorkerState {
    var freeSlots: [UInt32]
    var idler: Idler
}
