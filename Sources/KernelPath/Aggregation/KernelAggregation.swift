internal import CBPFObjects
internal import CSystemLibraries
import LinuxSystem
import Synchronization
public import TraceEngine
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// The sampler's in-kernel aggregation (`kernel.aggregation = bpf`) from user space: the poll
/// thread drains the counts into the engine, one trace per counted key, carrying its count.
///
/// The program counts into one of two sets of maps (a count map and a stack map each), the one
/// `aggregation_active` names. A drain flips that index, waits until no program can still be
/// counting into the old set (`membarrier` ends an RCU grace period, and the perf_event programs
/// run inside one), then reads and empties the old set, which nothing writes any more. So a drain
/// never races the program: no count is read twice or cleared unread. `drainAll` empties both
/// sets once the sampler is detached.
///
/// The maps outlive the program: this object holds its own descriptors of them, so the last drain
/// can run after the sampler (and its object) closed. Only the poll thread calls `drain`.
public final class KernelAggregation: @unchecked Sendable {
    // @unchecked: every member but `published` belongs to the poll thread; `published` is a Mutex,
    // taken once a drain.
    private let counts0: OwnedFileDescriptor
    private let counts1: OwnedFileDescriptor
    private let stacks0: OwnedFileDescriptor
    private let stacks1: OwnedFileDescriptor
    private let active: OwnedFileDescriptor
    private var activeSet: UInt32 = 0
    private let capacity: Int
    private let keys: UnsafeMutablePointer<th_aggregation_key>
    private let values: UnsafeMutablePointer<th_aggregation_value>
    private var stackMemo: StackMemo
    private var totals = AggregationStatistics()
    private let published = Mutex(AggregationStatistics())

    /// How often the poll stage drains.
    public let interval: Duration

    init(object: BPFObject, configuration: KernelOutputConfiguration, stackDepth: Int) throws(KernelPathError) {
        func duplicate(_ name: String) throws(KernelPathError) -> OwnedFileDescriptor {
            let fd = fcntl(object.mapFD(name), F_DUPFD_CLOEXEC, 0)
            guard fd >= 0 else { throw .system(SystemError("fcntl(F_DUPFD_CLOEXEC, \(name))", errno: errno)) }
            return OwnedFileDescriptor(taking: fd)
        }
        counts0 = try duplicate("aggregation_counts_0")
        counts1 = try duplicate("aggregation_counts_1")
        stacks0 = try duplicate("aggregation_stacks_0")
        stacks1 = try duplicate("aggregation_stacks_1")
        active = try duplicate("aggregation_active")
        capacity = configuration.aggregationEntries
        interval = configuration.aggregationInterval
        keys = .allocate(capacity: capacity)
        values = .allocate(capacity: capacity)
        stackMemo = StackMemo(depth: stackDepth)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// What has been drained so far, from any thread.
    public var statistics: AggregationStatistics { published.withLock { $0 } }

    /// Makes the other set the one the program counts into, waits for the programs still
    /// counting into this one, and hands its counts to `source`. One thread drains: the one that
    /// emits into `source`.
    public func drain(into source: EngineSource) {
        let drained = activeSet
        var next = drained ^ 1
        var zero: UInt32 = 0
        guard bpf_map_update_elem(active.rawValue, &zero, &next, UInt64(BPF_ANY)) == 0 else {
            // The program keeps counting into `drained`: reading it now would race it. Next time.
            totals.mapErrors += 1
            published.withLock { $0 = totals }
            return
        }
        activeSet = next
        waitForRunningBPFPrograms()
        drainSet(drained, into: source)
    }

    /// Hands both sets' counts to `source`: the last drain. Only once the sampler is detached
    /// (`Sampler.close()`): a program still running could count into a set being emptied.
    public func drainAll(into source: EngineSource) {
        waitForRunningBPFPrograms()
        drainSet(activeSet ^ 1, into: source)
        drainSet(activeSet, into: source)
    }

    private func drainSet(_ set: UInt32, into source: EngineSource) {
        let countsFD = set == 0 ? counts0.rawValue : counts1.rawValue
        let stacksFD = set == 0 ? stacks0.rawValue : stacks1.rawValue
        let found = takeCounts(countsFD)
        stackMemo.removeAll()
        for index in 0..<found { emit(keys[index], values[index], stacksFD: stacksFD, into: source) }
        clearStacks(stacksFD)
        totals.drains += 1
        published.withLock { $0 = totals }
    }

    /// Reads and deletes every entry of the count map into `keys`/`values`; returns how many.
    /// (Batch operations came with 5.6; the sampler needs 5.17 for `bpf_loop`.)
    private func takeCounts(_ fd: Int32) -> Int {
        var taken = 0
        var cursor: UInt64 = 0
        var next: UInt64 = 0
        var first = true
        while taken < capacity {
            var n = UInt32(capacity - taken)
            let result = withUnsafeMutablePointer(to: &cursor) { cursor in
                bpf_map_lookup_and_delete_batch(fd, first ? nil : cursor, &next, keys + taken, values + taken, &n, nil)
            }
            // On other errors the kernel may not have written `n` back: nothing of this call is
            // trusted, and what it may have deleted unread shows as undrained samples.
            guard result == 0 || result == -ENOENT else {
                totals.mapErrors += 1
                return taken
            }
            taken += min(Int(n), capacity - taken)
            if result == -ENOENT { return taken }  // every bucket seen
            first = false
            cursor = next
        }
        return taken
    }

    /// Empties a stack map: ids the counted keys named, and those of samples that went out as
    /// records after their first stack was stored.
    private func clearStacks(_ fd: Int32) {
        var id: UInt32 = 0
        var next: UInt32 = 0
        var hasID = bpf_map_get_next_key(fd, nil, &id) == 0
        while hasID {
            hasID = bpf_map_get_next_key(fd, &id, &next) == 0
            if bpf_map_delete_elem(fd, &id) != 0 { totals.mapErrors += 1 }
            id = next
        }
    }

    /// One counted key as traces: the frames as the record path would have sent them (kernel
    /// first, each part leaf first, callers marked as return addresses, 128 at most), the first
    /// sample's time and CPU, and the count (in traces of at most `UInt32.max` samples).
    private func emit(_ key: th_aggregation_key, _ value: th_aggregation_value, stacksFD: Int32, into source: EngineSource) {
        let kernel = stack(key.kernel_stack_id, stacksFD)
        let user = stack(key.user_stack_id, stacksFD)
        let kernelCount = min(kernel.count, RawTrace.maxFrames)
        let userCount = min(user.count, RawTrace.maxFrames - kernelCount)
        let comm = withUnsafeBytes(of: key.comm) { Comm(bytes: $0) }
        var left = value.count
        while left > 0 {
            let samples = UInt32(clamping: left)
            left -= UInt64(samples)
            totals.traces += 1
            totals.samples = totals.samples.addingSaturating(UInt64(samples))
            stackMemo.withAddresses { addresses in
                _ = source.emit(samples: samples) { (trace) throws(RawTraceError) in
                    try trace.assign(
                        pid: key.pid, tid: key.tid, cpu: value.first_cpu, ktime: KTime(rawValue: value.first_ktime), comm: comm,
                        kernelFrameCount: kernelCount, userFrameCount: userCount
                    ) { i in
                        i < kernelCount
                            ? Frame(addressOrLine: addresses[kernel.lowerBound + i], type: .kernel, isReturnAddress: i > 0)
                            : Frame(addressOrLine: addresses[user.lowerBound + i - kernelCount], type: .native, isReturnAddress: i > kernelCount)
                    }
                }
            }
        }
    }

    /// The addresses of stack `id` in `stackMemo` (read from the map once a drain); empty for no
    /// stack (-1), or for an id the map does not hold (counted).
    private func stack(_ id: Int32, _ fd: Int32) -> Range<Int> {
        guard id >= 0 else { return 0..<0 }
        if let known = stackMemo.range(of: id) { return known }
        guard let range = stackMemo.read(id, from: fd) else {
            totals.stacksMissing += 1
            return 0..<0
        }
        return range
    }
}

/// The stacks one drain has read, each once: a map read per distinct stack, not per key.
private struct StackMemo {
    private var addresses: [UInt64] = []
    private var ranges: [Int32: Range<Int>] = [:]
    private var scratch: [UInt64]

    /// For stack maps of `depth` addresses an entry.
    init(depth: Int) { scratch = [UInt64](repeating: 0, count: depth) }

    mutating func removeAll() {
        addresses.removeAll(keepingCapacity: true)
        ranges.removeAll(keepingCapacity: true)
    }

    func range(of id: Int32) -> Range<Int>? { ranges[id] }

    /// Reads stack `id`: the map pads a stack with zeros after its last address (so a stack is
    /// cut at an address 0, which no walk yields as a frame a record would keep usefully).
    mutating func read(_ id: Int32, from fd: Int32) -> Range<Int>? {
        var key = UInt32(bitPattern: id)
        guard bpf_map_lookup_elem(fd, &key, &scratch) == 0 else { return nil }
        let depth = scratch.firstIndex(of: 0) ?? scratch.count
        let range = addresses.count..<addresses.count + depth
        addresses.append(contentsOf: scratch[0..<depth])
        ranges[id] = range
        return range
    }

    func withAddresses<R>(_ body: (UnsafeBufferPointer<UInt64>) -> R) -> R { addresses.withUnsafeBufferPointer(body) }
}

/// What the aggregation's drains handed to the engine.
public struct AggregationStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Sets drained: one per interval, and both at the end.
    public var drains: UInt64 = 0
    /// Traces handed on: one per counted key (more for a count above `UInt32.max`).
    public var traces: UInt64 = 0
    /// Samples those traces stand for: after the last drain, every sample the program counted
    /// (`ProgramCounters.aggregated`).
    public var samples: UInt64 = 0
    /// Stack ids a key named that its stack map did not hold: the trace went on without them.
    public var stacksMissing: UInt64 = 0
    /// Map operations that failed (a flip, a read or a delete): a count not read by the last
    /// drain shows as `ProgramCounters.aggregated` above `samples`.
    public var mapErrors: UInt64 = 0

    /// All zero.
    public init() {}

    public var description: String {
        "drains \(drains), traces \(traces), samples \(samples), stacks missing \(stacksMissing), map errors \(mapErrors)"
    }
}
