import TraceModel

/// The report stage: the only caller of the reporter. Owns the user-mode-hash cache that decides
/// whether a converted trace's frames are sent (Go `HandleTrace`'s second half, the same
/// `ConvertedTraceReporting` the Go-shaped handler runs), and one scratch trace for degraded
/// (unsymbolized) traces.
final class ReportStage<Reporter: TraceReporter>: @unchecked Sendable {
    // @unchecked: all mutable state belongs to the stage's one thread.
    private let wiring: EngineWiring
    private let reporter: Reporter
    private let supportsTraceEvents: Bool
    /// Where processors' executable reports wait, when the reporter takes them (`ExecutableReporter`).
    /// Kept apart from `executableTaker` so that the loop's check copies no existential.
    private let executableQueue: ExecutableQueue?
    private let executableTaker: (any ExecutableReporter)?
    private let counters: StageCounters
    /// The mutable state, in memory of its own (a class's `var`s pay an exclusivity check per access).
    private let state: UnsafeMutablePointer<ReportState>

    private var converted: ConvertedTraceReporting {
        _read { yield state.pointee.converted }
        _modify { yield &state.pointee.converted }
    }
    private var idler: Idler {
        _read { yield state.pointee.idler }
        _modify { yield &state.pointee.idler }
    }
    private var bells: PendingBells {
        _read { yield state.pointee.bells }
        _modify { yield &state.pointee.bells }
    }

    init(wiring: EngineWiring, reporter: Reporter, executables: ExecutableQueue?) {
        self.wiring = wiring
        self.reporter = reporter
        executableTaker = reporter as? any ExecutableReporter
        executableQueue = executableTaker == nil ? nil : executables
        supportsTraceEvents = reporter.supportsReportTraceEvent
        counters = wiring.reportCounters
        state = .allocate(capacity: 1)
        state.initialize(to: ReportState(
            converted: ConvertedTraceReporting(cacheSize: wiring.configuration.cacheSize),
            idler: Idler(wiring.configuration.wait, doorbell: wiring.reportBell),
            bells: PendingBells([wiring.hashBell] + wiring.workerBells)))
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    func run() {
        let batch = wiring.configuration.batchSize
        let workers = wiring.configuration.symbolizeWorkers
        while !wiring.isAbandoned {
            passExecutables()
            var work = 0
            let fromHash = wiring.hashReportRing.readable(maxCount: batch)
            for message in fromHash { handleFromHash(message) }
            wiring.hashReportRing.release(fromHash.count)
            if fromHash.count > 0 { bells.mark(0) }
            work += fromHash.count
            for worker in 0..<workers {
                let ring = wiring.workerReportRings[worker]
                let converted = ring.readable(maxCount: batch)
                for message in converted {
                    counters.add(.received)
                    deliver(wiring.convertedSlots[worker].pointer(message.slot), message)
                    let returned = wiring.convertedReturns[worker].appendUnpublished(message.slot)
                    precondition(returned, "converted slot return ring overflow")
                }
                ring.release(converted.count)
                if converted.count > 0 { bells.mark(1 + worker) }
                work += converted.count
            }
            if work > 0 {
                // Returned slots are published once a batch (see SPSCRing: one index store a batch).
                wiring.reportRawReturns.publish()
                for ring in wiring.convertedReturns { ring.publish() }
                bells.ringPending()
                idler.workDone()
                continue
            }
            if drained() { break }
            idler.idle { self.hasInput() || self.upstreamFinished() || self.wiring.isAbandoned }
        }
        passExecutables()  // what the last conversions met
        reporter.flush()
    }

    private func passExecutables() {
        guard let queue = executableQueue, queue.hasWaiting, let taker = executableTaker else { return }
        queue.drain(into: taker)
    }

    private func upstreamFinished() -> Bool {
        wiring.hashFinished.load(ordering: .acquiring)
            && wiring.workersFinished.load(ordering: .acquiring) == wiring.configuration.symbolizeWorkers
    }

    private func hasInput() -> Bool {
        wiring.hashReportRing.approximateCount > 0 || wiring.workerReportRings.contains { $0.approximateCount > 0 }
    }

    /// Every producer has finished (acquiring their flags first) and nothing is left in the rings.
    private func drained() -> Bool { upstreamFinished() && !hasInput() }

    private func handleFromHash(_ message: ReportMessage) {
        counters.add(.received)
        switch message.kind {
        case .count:
            reporter.reportCount(message.umHash, samples: message.meta.weight.count, meta: wiring.meta(message.meta))
            countReported(message.meta.weight.count)
        case .degraded:
            state.pointee.scratch.assignUnsymbolized(inPlace: UnsafeBufferPointer(start: wiring.rawSlots.pointer(message.slot), count: 1).span)
            state.pointee.scratch.updateHash()
            withUnsafeMutablePointer(to: &state.pointee.scratch) { deliver($0, message) }
            let returned = wiring.reportRawReturns.appendUnpublished(message.slot)
            precondition(returned, "raw slot return ring overflow")
        case .converted:
            preconditionFailure("converted traces come from symbolize workers")
        }
    }

    /// Counts a reported trace and the samples beyond one it stood for.
    @inline(__always)
    private func countReported(_ samples: UInt32) {
        counters.add(.reported)
        if samples > 1 { counters.add(.extraSamples, UInt64(samples - 1)) }
    }

    /// Go's slow-path reporting: a trace event, or a count and (once per cached hash) the frames.
    ///
    /// The trace is moved out of its slot for the calls and back in after: handing the reporter
    /// `pointee` would copy it, a retain and a release of each of its seven column buffers, whose
    /// reference counts sit in cache lines the symbolize worker's CPU wrote last.
    private func deliver(_ slot: UnsafeMutablePointer<Trace>, _ message: ReportMessage) {
        let trace = slot.move()
        defer { slot.initialize(to: consume trace) }
        countReported(message.meta.weight.count)
        switch converted.report(trace, samples: message.meta.weight.count, meta: wiring.meta(message.meta), to: reporter, events: supportsTraceEvents) {
        case .event: break
        case .countOnly: counters.add(.umCacheHit)
        case .countAndFrames: counters.add(.umCacheMiss)
        }
    }
}

// Outside the generic stage on purpose (see HashCacheState).
private struct ReportState {
    var converted: ConvertedTraceReporting
    var scratch = Trace(reservingCapacity: RawTrace.maxFrames)
    var idler: Idler
    /// Hash/cache (0: room, returned raw slots) and the workers (1 + worker: room, returned slots).
    var bells: PendingBells
}
