import CLinuxShims
import TraceModel

/// The hash/cache stage: the fast path. Owns the BPF-hash → user-mode-hash cache (no other stage
/// touches it, so it needs no lock), and the set of hashes being symbolized.
///
/// Per raw trace (Go `HandleTrace`'s first half): a cache hit goes to report as a count; a miss is
/// sent to the symbolize worker its hash maps to, unless that hash is already in flight, in which
/// case the trace waits here (coalesced) and is counted when the worker's answer comes back.
/// With a reporter that takes trace events there is no cache: every trace is symbolized.
final class HashCacheStage<Processor: TraceProcessor, Reporter: TraceReporter>: @unchecked Sendable {
    // @unchecked: all mutable state belongs to the stage's one thread.
    private let wiring: EngineWiring
    private let processor: Processor
    private let usesCache: Bool
    // Per-trace parts of the wiring, held directly (no retain/release through `wiring`).
    private let rawSlots: SlotStorage<RawTrace>
    private let freeRawSlots: SPSCRing<UInt32>
    private let reportRing: SPSCRing<ReportMessage>
    private let counters: StageCounters
    /// The mutable state, in memory of its own: a class's stored `var`s pay a dynamic
    /// exclusivity check on every access, and this stage touches them several times a trace.
    private let state: UnsafeMutablePointer<HashCacheState>

    private var bpfTraceCache: LRUCache<HostTraceHash, TraceHash> {
        _read { yield state.pointee.bpfTraceCache }
        _modify { yield &state.pointee.bpfTraceCache }
    }
    private var inFlight: InFlightTable {
        _read { yield state.pointee.inFlight }
        _modify { yield &state.pointee.inFlight }
    }
    private var nextPending: [UInt32] {
        _read { yield state.pointee.nextPending }
        _modify { yield &state.pointee.nextPending }
    }
    private var inFlightCount: Int {
        _read { yield state.pointee.inFlightCount }
        _modify { yield &state.pointee.inFlightCount }
    }
    private var idler: Idler {
        _read { yield state.pointee.idler }
        _modify { yield &state.pointee.idler }
    }
    private var bells: PendingBells {
        _read { yield state.pointee.bells }
        _modify { yield &state.pointee.bells }
    }

    init(wiring: EngineWiring, processor: Processor, reporter: Reporter) {
        self.wiring = wiring
        self.processor = processor
        usesCache = !reporter.supportsReportTraceEvent
        rawSlots = wiring.rawSlots
        freeRawSlots = wiring.freeRawSlots
        reportRing = wiring.hashReportRing
        counters = wiring.hashCounters
        state = .allocate(capacity: 1)
        state.initialize(to: HashCacheState(
            bpfTraceCache: LRUCache(capacity: wiring.configuration.cacheSize),
            inFlight: InFlightTable(maximumCount: wiring.configuration.rawTraceSlots),
            nextPending: Array(repeating: .max, count: wiring.configuration.rawTraceSlots),
            idler: Idler(wiring.configuration.wait, doorbell: wiring.hashBell),
            bells: PendingBells([wiring.sourceBell, wiring.reportBell] + wiring.workerBells)))
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// The stage's own thread (`HashCacheThread.own`): traces from the source ring, answers from
    /// the workers, slots report gave back.
    func run() {
        let batch = wiring.configuration.batchSize
        while !wiring.isAbandoned {
            var work = takeAnswers(batch: batch)
            let traces = wiring.sourceRing.readable(maxCount: batch)
            for (index, slot) in traces.enumerated() {
                // The source wrote these records on another CPU: start fetching the ones a few
                // places ahead while this one is hashed.
                if index + prefetchDistance < traces.count {
                    th_prefetch_read(rawSlots.pointer(traces[traces.startIndex + index + prefetchDistance]), prefetchBytes)
                }
                handle(slot)
            }
            wiring.sourceRing.release(traces.count)
            if traces.count > 0 { bells.mark(0) }
            work += traces.count

            if work > 0 {
                publishAll()
                bells.ringPending()
                idler.workDone()
                continue
            }
            if wiring.sourceFinished.load(ordering: .acquiring) && wiring.sourceRing.approximateCount == 0
                && inFlightCount == 0
            {
                break
            }
            idler.idle { self.hasInput() || self.wiring.isAbandoned }
        }
        finished()
    }

    /// Tells the stages downstream that nothing more comes from here.
    private func finished() {
        wiring.hashFinished.store(true, ordering: .releasing)  // pairs with the workers' and report's loads
        bells.ringAll()
    }

    /// Takes up to `batch` answers from each worker and slots report gave back; returns how many.
    private func takeAnswers(batch: Int) -> Int {
        var work = 0
        for worker in 0..<wiring.feedbackRings.count {
            let results = wiring.feedbackRings[worker].readable(maxCount: batch)
            for result in results { finishSymbolized(result) }
            wiring.feedbackRings[worker].release(results.count)
            work += results.count
        }
        let returned = wiring.reportRawReturns.readable(maxCount: batch)
        for slot in returned { free(slot) }
        wiring.reportRawReturns.release(returned.count)
        return work + returned.count
    }

    private func hasInput() -> Bool {
        wiring.sourceRing.approximateCount > 0 || hasAnswers() || wiring.sourceFinished.load(ordering: .acquiring)
    }

    private func hasAnswers() -> Bool {
        wiring.reportRawReturns.approximateCount > 0 || wiring.feedbackRings.contains { $0.approximateCount > 0 }
    }

    private func handle(_ slot: UInt32) {
        let trace = rawSlots.pointer(slot)
        if let umHash = lookUp(trace) {
            acceptHit(trace, umHash: umHash)
            free(slot)
        } else {
            acceptMiss(slot)
        }
    }

    /// Hashes the trace at `trace` and looks it up: its user-mode hash on a hit, nil on a miss or
    /// when there is no cache. Counts nothing.
    @inline(__always)
    func lookUp(_ trace: UnsafeMutablePointer<RawTrace>) -> TraceHash? {
        trace.pointee.updateHash()  // sources may defer it (`loadDeferringHash`): this stage hashes
        state.pointee.cachedSinceLookUp = false
        return usesCache ? bpfTraceCache.get(trace.pointee.hash) : nil
    }

    /// Go's hit path for a trace `lookUp` found; the trace stays where it is.
    func acceptHit(_ trace: UnsafePointer<RawTrace>, umHash: TraceHash) {
        counters.add(.received)
        counters.add(.bpfCacheHit)
        reportCount(trace: trace, umHash: umHash)
    }

    /// A trace `lookUp` did not find, in its slot: coalesced onto its hash's symbolization in
    /// flight, or sent to symbolize.
    func acceptMiss(_ slot: UInt32) {
        let trace = rawSlots.pointer(slot)
        let hash = trace.pointee.hash
        if usesCache && state.pointee.cachedSinceLookUp, let umHash = bpfTraceCache.get(hash) {
            // Its answer came in after the lookup: a hit now, as in Go's one-at-a-time order.
            acceptHit(trace, umHash: umHash)
            free(slot)
            return
        }
        counters.add(.received)
        if usesCache {
            counters.add(.bpfCacheMiss)
            if let entry = inFlight.index(of: hash) {
                counters.add(.coalesced)
                append(slot, toEntry: entry)
                return
            }
        }
        symbolize(slot, hash: hash)
    }

    /// Sends a miss to its worker, or applies the symbolize edge's policy when that ring is full.
    private func symbolize(_ slot: UInt32, hash: HostTraceHash) {
        let worker = wiring.worker(for: hash)
        let ring = wiring.symbolizeRings[worker]
        while !ring.appendUnpublished(slot) {
            switch wiring.configuration.symbolize.policy {
            case .drop:
                counters.add(.dropSymbolizeRingFull)
                free(slot)
                return
            case .degrade:
                counters.add(.degraded)
                send(ReportMessage(kind: .degraded, slot: slot, umHash: TraceHash(high: 0, low: 0),
                                   meta: SampleMeta(rawSlots.pointer(slot), apmServiceName: 0)))
                return
            case .block:
                waitForRoom(bell: 2 + worker) { ring.approximateCount < ring.capacity }
                if wiring.isAbandoned { return }  // left in flight: stop counts it
            }
        }
        bells.mark(2 + worker)
        counters.add(.emitted)
        inFlightCount += 1
        if usesCache { inFlight.insert(hash, .empty) }
    }

    /// A worker's answer: cache the hash (if report got the frames) and count the coalesced traces.
    private func finishSymbolized(_ result: SymbolizeResult) {
        inFlightCount -= 1
        let hash = result.bpfHash
        if usesCache {
            if result.delivered {
                bpfTraceCache.add(hash, result.umHash)
                state.pointee.cachedSinceLookUp = true
            }
            var next = inFlight.remove(hash)?.head ?? .max
            while next != .max {
                let slot = next
                next = nextPending[Int(slot)]
                if result.delivered {
                    reportCount(trace: rawSlots.pointer(slot), umHash: result.umHash)
                } else {
                    counters.add(.dropCoalescedWithDropped)
                }
                free(slot)
            }
        }
        free(result.rawSlot)
    }

    /// Go's hit path: notify the APM agent, count, and mark the trace's symbolization complete.
    private func reportCount(trace: UnsafePointer<RawTrace>, umHash: TraceHash) {
        let apm = processor.maybeNotifyAPMAgent(inPlace: UnsafeBufferPointer(start: trace, count: 1).span, umTraceHash: umHash, count: UInt16(clamping: trace.pointee.count))
        let meta = SampleMeta(trace, apmServiceName: wiring.apmServiceID(apm))
        send(ReportMessage(kind: .count, slot: .max, umHash: umHash, meta: meta))
        processor.symbolizationComplete(traceCaptureKTime: trace.pointee.ktime)
    }

    /// Pushes to report under the report edge's policy.
    private func send(_ message: ReportMessage) {
        let ring = reportRing
        while !ring.appendUnpublished(message) {
            if wiring.configuration.report.policy == .drop {
                counters.add(.dropReportRingFull)
                if message.kind == .degraded { free(message.slot) }
                return
            }
            waitForRoom(bell: 1) { ring.approximateCount < ring.capacity }
            if wiring.isAbandoned { return }  // left in flight: stop counts it
        }
        bells.mark(1)
    }

    /// Shows the next stages what this one appended since the last call: once a batch, so each
    /// ring's index line crosses to the consumer's CPU once a batch, not once a trace.
    private func publishAll() {
        reportRing.publish()
        freeRawSlots.publish()
        for ring in wiring.symbolizeRings { ring.publish() }
    }

    private func append(_ slot: UInt32, toEntry entry: Int) {
        nextPending[Int(slot)] = .max
        var list = inFlight[entry]
        if list.head == .max {
            list.head = slot
        } else {
            nextPending[Int(list.tail)] = slot
        }
        list.tail = slot
        inFlight[entry] = list
    }

    /// Gives a raw slot back to the source. The ring is sized to the pool: it is never full.
    private func free(_ slot: UInt32) {
        let pushed = freeRawSlots.appendUnpublished(slot)
        precondition(pushed, "free raw slot ring overflow: a slot was freed twice")
        bells.mark(0)
    }

    /// Blocks (spin, yield, park) until a full ring has room. This cannot deadlock: the rings that
    /// lead back here (answers, returned slots) are sized to their pools and never fill, so the stage
    /// we wait on never waits on us.
    private func waitForRoom(bell: Int, _ ready: () -> Bool) {
        publishAll()
        bells.mark(bell)
        bells.ringPending()
        idler.workDone()
        let wiring = self.wiring
        while !ready() && !wiring.isAbandoned { idler.idle { ready() || wiring.isAbandoned } }
    }
}

/// The stage on the source's thread (`HashCacheThread.source`): the source calls these instead of
/// filling the source ring, and the stage has no thread of its own.
protocol InlineHashCache: AnyObject {
    /// Hashes the trace in the source's scratch memory: its user-mode hash on a hit.
    func lookUp(_ trace: UnsafeMutablePointer<RawTrace>) -> TraceHash?
    /// Reports a hit from the source's scratch memory.
    func acceptHit(_ trace: UnsafePointer<RawTrace>, umHash: TraceHash)
    /// Takes a miss the source has copied into a slot, hash included.
    func acceptMiss(_ slot: UInt32)
    /// Takes answers and returned slots, publishes every output ring and rings the stages given
    /// work: all of them when `ringing`, otherwise only if the report ring is half full (the
    /// source's flushes within a kernel batch). The source calls it at each flush and when it has
    /// no free slot.
    @discardableResult
    func service(ringing: Bool) -> Int
    /// Waits (spin, yield, park) until answers or returned slots arrive, or the engine is abandoned.
    func waitForAnswers()
    /// After the source's last trace: waits for every symbolization in flight (reporting the
    /// traces coalesced onto it), then tells the stages downstream that nothing more comes.
    /// Runs on the thread that finishes the source, which may differ from the one that emitted.
    func drain()
}

extension HashCacheStage: InlineHashCache {
    func service(ringing: Bool) -> Int {
        let work = takeAnswers(batch: wiring.configuration.batchSize)
        publishAll()
        if ringing || reportRing.approximateCount >= reportRing.capacity / 2 { bells.ringPending() }
        return work
    }

    func waitForAnswers() {
        idler.workDone()
        while !hasAnswers() && !wiring.isAbandoned { idler.idle { self.hasAnswers() || self.wiring.isAbandoned } }
    }

    func drain() {
        // The emitting thread has stopped; this one takes over the stage's sides of its rings.
        for ring in wiring.feedbackRings { ring.resetOwner(.consumer) }
        wiring.reportRawReturns.resetOwner(.consumer)
        wiring.freeRawSlots.resetOwner(.producer)
        wiring.hashReportRing.resetOwner(.producer)
        for ring in wiring.symbolizeRings { ring.resetOwner(.producer) }
        while inFlightCount > 0 && !wiring.isAbandoned {
            if service(ringing: true) > 0 {
                idler.workDone()
            } else {
                idler.idle { self.hasAnswers() || self.wiring.isAbandoned }
            }
        }
        publishAll()
        finished()
    }
}

/// How far ahead in a batch hash/cache and the symbolize workers prefetch raw records, and how much
/// of each: the header and the first 18 frames (a record's used length is in its header, which is
/// what is not yet cached). On the hit path this took 3.4–3.6 M traces/s to 4.0–5.1 M (same runs,
/// alternating).
let prefetchDistance = 4
let prefetchBytes = 512

// Outside the generic stage on purpose: a type nested in a generic class is generic too, and the
// unspecialized stage then reached its tables and fields through runtime metadata every trace.

private struct HashCacheState {
    var bpfTraceCache: LRUCache<HostTraceHash, TraceHash>
    /// In-flight hashes → the coalesced slots waiting on them (a list linked through `nextPending`).
    var inFlight: InFlightTable
    var nextPending: [UInt32]
    var inFlightCount = 0
    /// Whether an answer was cached since the last `lookUp`. On the source's thread, the source
    /// may take answers between a trace's lookup and its `acceptMiss` (while finding it a slot).
    var cachedSinceLookUp = false
    var idler: Idler
    /// Source (0: room in its ring, freed slots), report (1), workers (2 + worker).
    var bells: PendingBells
}
