internal import CSystemLibraries
internal import CBPFObjects
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// One of the embedded BPF programs (bpf/*.bpf.c), opened with libbpf, configured and loaded.
/// Owns the libbpf object and every link attached through it; `close()` (or deinit) detaches
/// and closes them all.
final class BPFObject {
    enum Embedded {
        case sampler, generator

        var bytes: UnsafeRawBufferPointer {
            switch self {
            case .sampler: UnsafeRawBufferPointer(start: th_sampler_bpf_object_ptr(), count: Int(th_sampler_bpf_object_size))
            case .generator: UnsafeRawBufferPointer(start: th_generator_bpf_object_ptr(), count: Int(th_generator_bpf_object_size))
            }
        }
    }

    private var object: OpaquePointer?
    private var links: [OpaquePointer] = []
    /// The counters as they were when the object was closed (a closed object has no maps).
    private var countersAtClose: ProgramCounters?

    /// Opens `embedded`, writes `config` into its .rodata, sizes its ring buffer and the maps
    /// `mapEntries` and `mapValueSizes` name, and loads it, except the programs `skippedPrograms`
    /// names (the verifier's time is spent only on what will be attached).
    ///
    /// The verifier gives up with EAGAIN when a signal is pending for the loading thread (a child
    /// exiting sends SIGCHLD), and verifying the sampler's loops takes a second on a loaded
    /// machine: the load runs with this thread's signals blocked, so the process's signals go to
    /// other threads, and is retried from a fresh open should it still be interrupted.
    init(
        _ embedded: Embedded, config: th_program_config, ringBufferSize: Int, mapEntries: [String: Int] = [:],
        mapValueSizes: [String: Int] = [:], skippedPrograms: [String] = []
    ) throws(KernelPathError) {
        let mapEntries = mapEntries.merging(["trace_ring": ringBufferSize]) { a, _ in a }
        var attempt = 1
        while true {
            do {
                object = try Self.openAndLoad(
                    embedded, config: config, mapEntries: mapEntries, mapValueSizes: mapValueSizes, skippedPrograms: skippedPrograms)
                return
            } catch let error {
                guard case .system(let cause) = error, cause.errno == EAGAIN, attempt < 8 else { throw error }
                attempt += 1
            }
        }
    }

    private static func openAndLoad(
        _ embedded: Embedded, config: th_program_config, mapEntries: [String: Int], mapValueSizes: [String: Int],
        skippedPrograms: [String]
    ) throws(KernelPathError) -> OpaquePointer {
        let bytes = embedded.bytes
        guard let object = bpf_object__open_mem(bytes.baseAddress, bytes.count, nil) else {
            throw .failed("bpf_object__open_mem", errno: errno, needs: KernelPathError.bpfPrivileges)
        }
        do throws(KernelPathError) {
            try configure(object, config: config, mapEntries: mapEntries, mapValueSizes: mapValueSizes)
            for name in skippedPrograms {
                guard let program = bpf_object__find_program_by_name(object, name) else {
                    preconditionFailure("no program \(name) in the embedded object")
                }
                bpf_program__set_autoload(program, false)
            }
            let loaded = withSignalsBlocked { bpf_object__load(object) }
            if loaded != 0 { throw .failed("bpf_object__load", errno: -loaded, needs: KernelPathError.bpfPrivileges) }
            return object
        } catch {
            bpf_object__close(object)
            throw error
        }
    }

    deinit { close() }

    private static func configure(
        _ object: OpaquePointer, config: th_program_config, mapEntries: [String: Int], mapValueSizes: [String: Int]
    ) throws(KernelPathError) {
        var map: OpaquePointer? = bpf_object__next_map(object, nil)
        while let current = map {
            let name = String(cString: bpf_map__name(current))
            if name.hasSuffix(".rodata") {
                var value = config
                let result = bpf_map__set_initial_value(current, &value, MemoryLayout<th_program_config>.size)
                if result != 0 { throw .system(SystemError("bpf_map__set_initial_value(\(name))", errno: -result)) }
            }
            if let entries = mapEntries[name] {
                let result = bpf_map__set_max_entries(current, UInt32(entries))
                if result != 0 { throw .system(SystemError("bpf_map__set_max_entries(\(name), \(entries))", errno: -result)) }
            }
            if let size = mapValueSizes[name] {
                let result = bpf_map__set_value_size(current, UInt32(size))
                if result != 0 { throw .system(SystemError("bpf_map__set_value_size(\(name), \(size))", errno: -result)) }
            }
            map = bpf_object__next_map(object, current)
        }
    }

    /// Detaches every link and closes the object, keeping the final counters (read once the
    /// programs still running have finished, so that none counts after them). Idempotent.
    func close() {
        let detached = !links.isEmpty
        for link in links { bpf_link__destroy(link) }
        links = []
        guard let object else { return }
        if detached { waitForRunningBPFPrograms() }
        countersAtClose = readCounters(atClose: true)
        bpf_object__close(object)
        self.object = nil
    }

    func mapFD(_ name: String) -> Int32 {
        precondition(object != nil, "map \(name) of a closed BPF object")
        guard let map = bpf_object__find_map_by_name(object, name) else { preconditionFailure("no map \(name) in the embedded program") }
        return bpf_map__fd(map)
    }

    private func program(_ name: String) -> OpaquePointer {
        guard let program = bpf_object__find_program_by_name(object, name) else {
            preconditionFailure("no program \(name) in the embedded object")
        }
        return program
    }

    /// Attaches program `name` to the perf event `fd` (libbpf enables the event).
    func attach(_ name: String, toPerfEvent fd: Int32) throws(KernelPathError) {
        guard let link = bpf_program__attach_perf_event(program(name), fd) else {
            throw .failed("bpf_program__attach_perf_event(\(name))", errno: errno, needs: KernelPathError.bpfPrivileges)
        }
        links.append(link)
    }

    /// Attaches program `name` to tracepoint `category:event`.
    func attach(_ name: String, toTracepoint category: String, _ event: String) throws(KernelPathError) {
        guard let link = bpf_program__attach_tracepoint(program(name), category, event) else {
            throw .failed("bpf_program__attach_tracepoint(\(category):\(event))", errno: errno, needs: KernelPathError.bpfPrivileges)
        }
        links.append(link)
    }

    /// Attaches program `name` to the raw tracepoint `event` (no tracefs needed).
    func attach(_ name: String, toRawTracepoint event: String) throws(KernelPathError) {
        guard let link = bpf_program__attach_raw_tracepoint(program(name), event) else {
            throw .failed("bpf_program__attach_raw_tracepoint(\(event))", errno: errno, needs: KernelPathError.bpfPrivileges)
        }
        links.append(link)
    }

    /// The program's per-CPU counters (sampler_abi.h), summed over CPUs; after `close`, their
    /// final values.
    func counters() -> ProgramCounters { countersAtClose ?? readCounters(atClose: false) }

    /// The counters; `atClose`, with the programs detached, also the off-CPU tasks still in the
    /// blocked-task map (a walk of the map, one system call a key: only once, and only then
    /// exact, since a walk of a map being changed restarts at every deleted key).
    private func readCounters(atClose: Bool) -> ProgramCounters {
        let fd = mapFD("counters")
        let cpus = Int(libbpf_num_possible_cpus())
        var values = [UInt64](repeating: 0, count: max(cpus, 1))
        var result = ProgramCounters()
        for index in 0..<UInt32(TH_COUNTER_COUNT.rawValue) {
            var key = index
            guard bpf_map_lookup_elem(fd, &key, &values) == 0 else { continue }
            let total = values.reduce(0, &+)
            switch index {
            case UInt32(TH_COUNTER_RECORDS.rawValue): result.records = total
            case UInt32(TH_COUNTER_OUTPUT_ERRORS.rawValue): result.outputErrors = total
            case UInt32(TH_COUNTER_KERNEL_STACK_ERRORS.rawValue): result.kernelStackErrors = total
            case UInt32(TH_COUNTER_USER_STACK_ERRORS.rawValue): result.userStackErrors = total
            case UInt32(TH_COUNTER_SNAPSHOTS.rawValue): result.snapshots = total
            case UInt32(TH_COUNTER_SNAPSHOT_BYTES.rawValue): result.snapshotBytes = total
            case UInt32(TH_COUNTER_SNAPSHOT_TRUNCATED.rawValue): result.snapshotsTruncated = total
            case UInt32(TH_COUNTER_SNAPSHOT_ERRORS.rawValue): result.snapshotErrors = total
            case UInt32(TH_COUNTER_AGGREGATED.rawValue): result.aggregated = total
            case UInt32(TH_COUNTER_AGGREGATION_COLLISIONS.rawValue): result.aggregationCollisions = total
            case UInt32(TH_COUNTER_AGGREGATION_FULL.rawValue): result.aggregationFull = total
            case UInt32(TH_COUNTER_OFF_CPU_SWITCHES.rawValue): result.offCPUSwitches = total
            case UInt32(TH_COUNTER_OFF_CPU_UNSAMPLED.rawValue): result.offCPUUnsampled = total
            case UInt32(TH_COUNTER_OFF_CPU_TRACKED.rawValue): result.offCPUTracked = total
            case UInt32(TH_COUNTER_OFF_CPU_TRACK_ERRORS.rawValue): result.offCPUTrackErrors = total
            case UInt32(TH_COUNTER_OFF_CPU_RESUMED.rawValue): result.offCPUResumed = total
            case UInt32(TH_COUNTER_OFF_CPU_SHORT.rawValue): result.offCPUShort = total
            case UInt32(TH_COUNTER_OFF_CPU_AWAITING.rawValue): result.offCPUAwaiting = total
            case UInt32(TH_COUNTER_OFF_CPU_AWAITED_SENT.rawValue): result.offCPUAwaitedSent = total
            case UInt32(TH_COUNTER_OFF_CPU_MOVED.rawValue): result.offCPUMoved = total
            case UInt32(TH_COUNTER_OFF_CPU_SENT.rawValue): result.offCPUSent = total
            case UInt32(TH_COUNTER_OFF_CPU_REFUSED.rawValue): result.offCPURefused = total
            case UInt32(TH_COUNTER_OFF_CPU_TORN.rawValue): result.offCPUTorn = total
            default: break
            }
        }
        if atClose && result.offCPUTracked != 0 {
            // The map holds the blocked tasks and the blocks awaiting their snapshot.
            result.offCPUBlocked = UInt64(entryCount("blocked_tasks")).subtractingSaturating(result.offCPUPending)
        }
        return result
    }

    /// The keys in map `name`, whose keys are `UInt64`s, now (one system call a key).
    private func entryCount(_ name: String) -> Int {
        let fd = mapFD(name)
        var key: UInt64 = 0
        var next: UInt64 = 0
        var count = 0
        var status = bpf_map_get_next_key(fd, nil, &next)
        while status == 0 {
            count += 1
            key = next
            status = bpf_map_get_next_key(fd, &key, &next)
        }
        return count
    }
}

/// What a BPF program counted on its side.
public struct ProgramCounters: Hashable, Sendable, CustomStringConvertible {
    /// Records handed to the output map.
    public var records: UInt64 = 0
    /// Records the output map refused (buffer full).
    public var outputErrors: UInt64 = 0
    /// Samples whose kernel stack `bpf_get_stack` could not read; they went on without kernel frames.
    public var kernelStackErrors: UInt64 = 0
    /// Samples whose user stack `bpf_get_stack` could not read; they went on without user frames.
    public var userStackErrors: UInt64 = 0
    /// User stack snapshots taken (DWARF unwinding), the bytes they copied, how many were cut
    /// short of the configured window, and how many copied nothing.
    public var snapshots: UInt64 = 0
    /// Stack bytes those snapshots carry, summed.
    public var snapshotBytes: UInt64 = 0
    /// Snapshots cut short of the configured window.
    public var snapshotsTruncated: UInt64 = 0
    /// Snapshots with no stack bytes: the page at SP was unreadable (as in the middle of an execve).
    public var snapshotErrors: UInt64 = 0

    /// Samples counted in the kernel's aggregation maps (`kernel.aggregation = bpf`) instead of
    /// being sent as records.
    public var aggregated: UInt64 = 0
    /// Samples sent as records instead because a stack's bucket in the stack map held another
    /// stack (a hash collision there).
    public var aggregationCollisions: UInt64 = 0
    /// Samples sent as records instead because the stack map or the count map was full (or, rarely,
    /// its bucket was locked by another CPU's update).
    public var aggregationFull: UInt64 = 0

    /// Switches away from a CPU by a task the off-CPU program admits (pid, voluntary).
    public var offCPUSwitches: UInt64 = 0
    /// Of those, switches the sampling probability left out (no stacks taken).
    public var offCPUUnsampled: UInt64 = 0
    /// Of those, tasks whose stacks were taken and kept until they run again.
    public var offCPUTracked: UInt64 = 0
    /// Of those, tasks the blocked-task map refused (no memory).
    public var offCPUTrackErrors: UInt64 = 0
    /// Tracked tasks that ran again: a record sent (or refused by a full buffer), or a short block.
    public var offCPUResumed: UInt64 = 0
    /// Of those, blocks shorter than `offcpu.min-duration-us`: counted, not sent.
    public var offCPUShort: UInt64 = 0
    /// Tracked tasks still blocked when the program was detached (the map's entries, less those
    /// awaiting a snapshot); nil while it runs.
    public var offCPUBlocked: UInt64?
    /// With snapshots: blocks that ended and waited for their task's own context to take the
    /// snapshot (the exit of its system call, or its next switch away), …
    public var offCPUAwaiting: UInt64 = 0
    /// … of them no longer awaiting (sent, refused by a full buffer, or torn), …
    public var offCPUAwaitedSent: UInt64 = 0
    /// … of those, without a snapshot: the task's user registers were no longer those it blocked
    /// with (it blocked outside a system call, or ran user code since).
    public var offCPUMoved: UInt64 = 0

    /// Blocks that ended and still await their snapshot (a task that ran again but has not yet
    /// left its system call).
    public var offCPUPending: UInt64 { offCPUAwaiting.subtractingSaturating(offCPUAwaitedSent) }

    /// Off-CPU records handed to the output map, and refused by it (`records` and `outputErrors`
    /// count CPU samples' too).
    public var offCPUSent: UInt64 = 0
    public var offCPURefused: UInt64 = 0
    /// Blocks that ran again but were not sent: their entry was reused for another task while it
    /// was read (a full map drops an entry and reuses it at once).
    public var offCPUTorn: UInt64 = 0

    /// Tracked tasks neither resumed nor still in the map when the program was detached: dropped
    /// from a full map to make room for others, or whose return the program did not see (a run
    /// the kernel skipped because another program ran on that CPU). Nil while the program runs.
    public var offCPUDropped: UInt64? {
        offCPUBlocked.map { offCPUTracked.subtractingSaturating(offCPUResumed).subtractingSaturating($0) }
    }

    /// Every record the program tried to send.
    public var attempts: UInt64 { records.addingSaturating(outputErrors) }
    /// Every sample the program took: sent, refused, or counted in the kernel.
    public var samples: UInt64 { attempts.addingSaturating(aggregated) }

    public var description: String {
        var text = "sent \(records), refused by a full buffer \(outputErrors), stack errors kernel \(kernelStackErrors) user \(userStackErrors)"
        if aggregated != 0 || aggregationCollisions != 0 || aggregationFull != 0 {
            text += ", counted in the kernel \(aggregated) (sent as records: \(aggregationCollisions) stack collisions, \(aggregationFull) full maps)"
        }
        if offCPUSwitches != 0 {
            text += ", off-CPU switches \(offCPUSwitches) (sampled out \(offCPUUnsampled), tracked \(offCPUTracked), "
                + "map refused \(offCPUTrackErrors); resumed \(offCPUResumed), of them short \(offCPUShort), sent \(offCPUSent), "
                + "refused \(offCPURefused), torn \(offCPUTorn)"
            if let offCPUBlocked, let offCPUDropped { text += "; still blocked \(offCPUBlocked), dropped or unseen \(offCPUDropped)" }
            text += ")"
            if offCPUAwaiting != 0 {
                text += ", off-CPU snapshots awaited \(offCPUAwaiting) (sent \(offCPUAwaitedSent), \(offCPUMoved) of them without; "
                    + "pending \(offCPUPending))"
            }
        }
        return text
    }
}

/// Runs `body` with every blockable signal blocked for the calling thread, then restores the mask.
private func withSignalsBlocked<T>(_ body: () -> T) -> T {
    var all = sigset_t()
    var previous = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_BLOCK, &all, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    return body()
}
