public import TraceModel

/// What a full ring does with one more item.
public enum BackpressurePolicy: String, Hashable, Sendable, CaseIterable {
    /// The producer waits. At the source this leaves records in the kernel's buffer, where the kernel
    /// counts what it then loses.
    case block
    /// The newest item is dropped and counted.
    case drop
    /// On the edge into symbolize: the trace goes on to report unsymbolized (raw addresses,
    /// `Trace.isSymbolized == false`) instead of waiting or being dropped. On the edge into
    /// unwind: the record goes on with its frame-pointer stack, not unwound.
    case degrade
}

/// One edge of the engine: how many items it holds and what a full edge does.
public struct EdgeConfiguration: Hashable, Sendable {
    /// A power of two.
    public var capacity: Int
    /// What the producer does when the edge is full.
    public var policy: BackpressurePolicy

    /// An edge of `capacity` items (a power of two; `EngineConfiguration.validate` checks it).
    public init(capacity: Int, policy: BackpressurePolicy) {
        self.capacity = capacity
        self.policy = policy
    }
}

/// CPUs for each stage's thread; nil leaves a thread unpinned.
public struct StageCPUs: Hashable, Sendable {
    /// The source thread (`cpus.source`): the poll stage, or the thread `runSource` makes.
    public var source: [Int]?
    /// The hash/cache thread (`cpus.hash-cache`); unused with `hashCacheThread = .source`.
    public var hashCache: [Int]?
    /// One list per symbolize worker, or one list for all of them.
    public var symbolize: [[Int]]?
    /// The report thread (`cpus.report`).
    public var report: [Int]?
    /// Every unwind worker's CPUs (one list for all).
    public var unwind: [Int]?

    /// Pinning for the stages given, none for the rest; `unwind` (`cpus.unwind`) is not a
    /// parameter and starts nil.
    public init(source: [Int]? = nil, hashCache: [Int]? = nil, symbolize: [[Int]]? = nil, report: [Int]? = nil) {
        self.source = source
        self.hashCache = hashCache
        self.symbolize = symbolize
        self.report = report
    }
}

/// Which thread runs the hash/cache stage.
public enum HashCacheThread: String, Hashable, Sendable, CaseIterable {
    /// A thread of its own, `th-hash-cache`, fed through the source ring: lookups overlap with the
    /// source's reading on another CPU. Every trace is copied into a pool slot and crosses CPUs.
    case own
    /// The source's thread: `emit` reads each trace into memory only that thread touches, hashes
    /// it and looks it up there. A hit goes to report as a count, its record never copied into
    /// the pool nor read on another CPU; only misses take a slot and go on to symbolize. For
    /// machines with fewer CPUs than busy stages, where a thread of its own buys no parallelism
    /// and moving every record between CPUs is the hit path's largest cost (design/engine.md).
    case source
}

/// Everything the engine is built from. A plain value with documented defaults; `validate` checks
/// it once, before any thread starts, and nothing reads it on the hot path.
public struct EngineConfiguration: Hashable, Sendable {
    /// `rings.source`: poll → hash/cache. Policy `block` or `drop`. Default 1024, block.
    ///
    /// The engine's rings are kept short on purpose: the kernel's per-CPU buffers absorb bursts,
    /// and every queued trace is cache the next stage reads from memory instead. 4096-deep rings
    /// and an 8192-slot pool halved the hit path's throughput here (design/performance.md).
    public var source = EdgeConfiguration(capacity: 1024, policy: .block)
    /// `rings.symbolize`: hash/cache → each symbolize worker. Any policy. Default 1024, degrade.
    public var symbolize = EdgeConfiguration(capacity: 1024, policy: .degrade)
    /// `rings.report`: hash/cache → report and each symbolize worker → report. Policy `block` or
    /// `drop`. Default 1024, block.
    public var report = EdgeConfiguration(capacity: 1024, policy: .block)
    /// `pool.traces`: raw trace slots (≈3 KiB each) shared by all stages; bounds the engine's memory
    /// for raw traces. Default 2048 (≈6.5 MiB). A power of two.
    public var rawTraceSlots = 2048
    /// `pool.converted`: converted-trace slots per symbolize worker. Default 1024. A power of two.
    public var convertedTraceSlots = 1024
    /// `symbolize.workers`: symbolize threads; traces fan out to them by BPF hash. Default 1.
    public var symbolizeWorkers = 1
    /// `cache.size`: entries of the BPF-hash cache (hash/cache stage) and of the user-mode-hash cache
    /// (report stage). Default 16384.
    public var cacheSize = 16384
    /// `batch`: items a stage takes from one ring before looking at the next. Default 64.
    public var batchSize = 64
    /// `hash-cache.thread`: `source` (default) or `own`, see `HashCacheThread`. With `source`,
    /// `rings.source` and `cpus.hash-cache` are unused. The default since the agent's CPU per
    /// sample was measured on the real path: with every CPU busy, `own` cost 1.2× a plain C
    /// consumer's CPU per sample and `source` 0.9× (`tracehandler-bench agent`, before the
    /// source's wake-ups were batched; design/performance.md), while flat-out synthetic
    /// throughput did not tell them apart.
    public var hashCacheThread = HashCacheThread.source
    /// `cpus.*`: pinning per stage. Default: none.
    public var cpus = StageCPUs()
    /// `wait.*`: how idle stages wait.
    public var wait = WaitStrategy()
    /// `unwind.*`: the unwind stage, for records that carry a user stack snapshot.
    public var unwind = UnwindStageConfiguration()

    /// The defaults given on each field.
    public init() {}

    /// The most symbolize workers an engine can have.
    public static let maximumSymbolizeWorkers = 62
    /// The most unwind workers an engine can have.
    public static let maximumUnwindWorkers = 64

    /// Checks every field against its allowed range; the error names the key, the value and the range.
    public func validate(allowedCPUs: [Int]) throws(ConfigurationError) {
        func check(_ ok: Bool, _ key: String, _ value: Any, _ allowed: String) throws(ConfigurationError) {
            try ConfigurationError.check(ok, key, value, allowed: allowed)
        }
        func powerOfTwo(_ value: Int, _ key: String, max: Int) throws(ConfigurationError) {
            try check(value >= 1 && value <= max && value.nonzeroBitCount == 1, key, value, "a power of two from 1 to \(max)")
        }
        try powerOfTwo(source.capacity, "rings.source.capacity", max: 1 << 20)
        try powerOfTwo(symbolize.capacity, "rings.symbolize.capacity", max: 1 << 20)
        try powerOfTwo(report.capacity, "rings.report.capacity", max: 1 << 20)
        try check(source.policy != .degrade, "rings.source.policy", source.policy.rawValue, "block, drop")
        try check(report.policy != .degrade, "rings.report.policy", report.policy.rawValue, "block, drop")
        try powerOfTwo(rawTraceSlots, "pool.traces", max: 1 << 20)
        try powerOfTwo(convertedTraceSlots, "pool.converted", max: 1 << 16)
        // The hash/cache stage rings its neighbours (source, report, every worker) from one 64-bit
        // mask (`PendingBells`): at most 62 workers.
        try check(symbolizeWorkers >= 1 && symbolizeWorkers <= Self.maximumSymbolizeWorkers, "symbolize.workers", symbolizeWorkers,
                  "1...\(Self.maximumSymbolizeWorkers)")
        try check(cacheSize >= 1 && cacheSize <= 1 << 24, "cache.size", cacheSize, "1...\(1 << 24)")
        try check(batchSize >= 1 && batchSize <= 4096, "batch", batchSize, "1...4096")
        try check(wait.spins >= 0, "wait.spins", wait.spins, "0 or more")
        try check(wait.yields >= 0, "wait.yields", wait.yields, "0 or more")
        try check(
            wait.parkTimeout >= .milliseconds(1) && wait.parkTimeout <= .seconds(60), "wait.park-timeout-ms", wait.parkTimeout, "1 ... 60000")
        let allowed = Set(allowedCPUs)
        let allowedText = allowedCPUs.map(String.init).joined(separator: ",")
        func cpusExist(_ cpus: [Int]?, _ key: String) throws(ConfigurationError) {
            for cpu in cpus ?? [] {
                try check(allowed.contains(cpu), key, cpu, "CPUs this process may run on: \(allowedText)")
            }
        }
        try cpusExist(cpus.source, "cpus.source")
        try cpusExist(cpus.hashCache, "cpus.hash-cache")
        try cpusExist(cpus.report, "cpus.report")
        try cpusExist(cpus.unwind, "cpus.unwind")
        try check((0...Self.maximumUnwindWorkers).contains(unwind.workers), "unwind.workers", unwind.workers, "0...\(Self.maximumUnwindWorkers)")
        try powerOfTwo(unwind.edge.capacity, "rings.unwind.capacity", max: 1 << 16)
        try powerOfTwo(unwind.snapshotSlots, "pool.snapshots", max: 1 << 14)
        if let lists = cpus.symbolize {
            try check(lists.count == 1 || lists.count == symbolizeWorkers, "cpus.symbolize", lists.count,
                      "one CPU list, or one per worker (\(symbolizeWorkers))")
            for list in lists { try cpusExist(list, "cpus.symbolize") }
        }
    }

    func symbolizeCPUs(worker: Int) -> [Int]? {
        guard let lists = cpus.symbolize else { return nil }
        return lists.count == 1 ? lists[0] : lists[worker]
    }
}

/// The unwind stage: between the source and hash/cache, `workers` threads walk the user stack
/// snapshots some records carry (DWARF CFI), each fed by a ring of its own from the source's
/// thread and answering through another, with snapshot slots from a pool of their own.
public struct UnwindStageConfiguration: Hashable, Sendable {
    /// `unwind.workers`: unwind threads. 0: no stage; a snapshot record goes on with its
    /// frame-pointer stack. Default 0 for an engine; the agent sets it for `unwind.mode = dwarf`.
    public var workers = 0
    /// `rings.unwind`: source → each unwind worker. Policy `block` (the source waits for a slot,
    /// the kernel's buffers absorb the rest), `drop`, or `degrade` (the record goes on with its
    /// frame-pointer stack). Default 256, block.
    public var edge = EdgeConfiguration(capacity: 256, policy: .block)
    /// `pool.snapshots`: records with snapshots in the stage at once, 32 KiB each (the largest
    /// record the sampler sends). Default 512: room for two workers' rings (on the snapshot-bound
    /// benchmark two workers unwound 1.31–1.51× what one did with 256 slots, 1.42–1.49× with 512
    /// and 1.52–1.57× with 1024, medians of one run each, UnwindBenchmarks). 16 MiB of
    /// address space, resident only as far as records fill the slots (free slots are reused
    /// last-in first-out, so a quiet stage touches few). A power of two.
    public var snapshotSlots = 512

    /// The defaults given on each field: no workers, a 256-item blocking edge, 512 slots.
    public init() {}
}
