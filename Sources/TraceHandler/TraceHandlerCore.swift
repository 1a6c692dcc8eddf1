import TraceModel

/// The per-trace logic of upstream `traceHandler.HandleTrace`, step by step. One instance is owned
/// by one task; only its counters are shared (with the monitor task).
struct TraceHandlerCore<Processor: TraceProcessor, Reporter: TraceReporter>: Sendable {
    let processor: Processor
    let reporter: Reporter
    let clock: KTimeConverter
    let counters: TraceCacheCounters

    /// BPF hash → user-mode hash of traces converted recently: repeats skip conversion.
    var bpfTraceCache: LRUCache<HostTraceHash, TraceHash>
    /// The rest: counts, and frames once per recently seen user-mode hash (shared with the engine).
    var converted: ConvertedTraceReporting

    init(processor: Processor, reporter: Reporter, clock: KTimeConverter, counters: TraceCacheCounters, cacheSize: Int) {
        self.processor = processor
        self.reporter = reporter
        self.clock = clock
        self.counters = counters
        bpfTraceCache = LRUCache(capacity: cacheSize)
        converted = ConvertedTraceReporting(cacheSize: cacheSize)
    }

    mutating func handleTrace(_ bpfTrace: borrowing RawTrace) {
        // Upstream defers this: it runs last, on every path.
        defer { processor.symbolizationComplete(traceCaptureKTime: bpfTrace.ktime) }

        var meta = TraceEventMeta(
            timestamp: clock.unixTime(bpfTrace.ktime), comm: bpfTrace.comm,
            pid: bpfTrace.pid, tid: bpfTrace.tid, cpu: bpfTrace.cpu,
            origin: bpfTrace.origin, offTime: bpfTrace.origin == .offCPU ? bpfTrace.offTime : 0)

        if !reporter.supportsReportTraceEvent {
            // Fast path: a trace converted recently only needs a count.
            if let postConversionHash = bpfTraceCache.get(bpfTrace.hash) {
                counters.increment(.bpfTraceCacheHit)
                meta.apmServiceName = processor.maybeNotifyAPMAgent(bpfTrace, umTraceHash: postConversionHash, count: UInt16(clamping: bpfTrace.count))
                reporter.reportCount(postConversionHash, samples: bpfTrace.count, meta: meta)
                return
            }
            counters.increment(.bpfTraceCacheMiss)
        }

        convertAndReport(bpfTrace, meta: &meta)
    }

    /// The slow path: convert. Not inlined, so that the hit path above stays a short function.
    @inline(never)
    private mutating func convertAndReport(_ bpfTrace: borrowing RawTrace, meta: inout TraceEventMeta) {
        // Into an empty trace, hashed once here (`convertTrace(_:)` hashes too: twice would be waste).
        var umTrace = Trace(reservingCapacity: bpfTrace.frameCount)
        processor.convertTrace(bpfTrace, into: &umTrace)
        umTrace.updateHash()  // whatever the processor left there: the hash is the handler's
        bpfTraceCache.add(bpfTrace.hash, umTrace.hash)

        meta.apmServiceName = processor.maybeNotifyAPMAgent(bpfTrace, umTraceHash: umTrace.hash, count: UInt16(clamping: bpfTrace.count))
        switch converted.report(umTrace, samples: bpfTrace.count, meta: meta, to: reporter, events: reporter.supportsReportTraceEvent) {
        case .event: break
        case .countOnly: counters.increment(.umTraceCacheHit)
        case .countAndFrames: counters.increment(.umTraceCacheMiss)
        }
    }
}
