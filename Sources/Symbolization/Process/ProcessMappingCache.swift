import LinuxSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The mappings of the processes seen, read from `/proc/<pid>/maps` once per process and kept
/// until the process is gone, was replaced, or exec'd:
///
/// - pid reuse: an entry remembers the process's start time (`/proc/<pid>/stat` field 22); when
///   the entry is older than `revalidateAfter`, the start time is read again and a different one
///   drops the entry, so a new process never gets another's mappings.
/// - exec, dlopen, dlclose: at the same revalidation the maps are read again, and symbol tables
///   resolved for the old ones are forgotten when they changed (the comm of a trace cannot tell:
///   it is the thread's name, and threads rename themselves). An address outside every mapping
///   rereads them at once, once per revalidation period.
/// - bounded: at most `capacity` processes; the least recently used goes first.
///
/// `Resolved` is what a user of the cache derives from one mapping once (the symbolizer: the
/// file's symbol table; the unwinder: its unwind table and load bias), kept with the mapping and
/// forgotten with it.
///
/// Not thread-safe: the symbolizer's workers share one under its read-write lock (reading under
/// the read side, changing under the write side); each unwind worker has its own. Its `var`s,
/// read for every trace and the entries' for every frame, are `@exclusivity(unchecked)`: the
/// dynamic check catches only overlapping accesses on one thread, which these short accesses
/// never make, and cost a runtime call a read (with `SymbolTable`'s, a quarter of a warm trace's
/// instructions).
final class ProcessMappingCache<Resolved> {
    final class Process {
        let pid: UInt32
        let startTime: UInt64
        @exclusivity(unchecked) var mappings: [Mapping] {
            didSet { bounds = MappingBounds(mappings) }
        }
        /// The mappings' numbers apart from their strings: what a frame needs, read without
        /// copying a `Mapping` (whose two strings would be retained and released a frame, on
        /// reference counts that every symbolize worker touches).
        @exclusivity(unchecked) private(set) var bounds: MappingBounds
        @exclusivity(unchecked) var validatedAt: UInt64
        /// Stored by readers sharing the cache (`existing`), hence atomic.
        let lastUsed: Atomic<UInt64>
        /// What each mapping resolved to, by index: nil until resolved; `.some(nil)` when
        /// resolution failed (not retried).
        @exclusivity(unchecked) var resolved: [Resolved??]
        @exclusivity(unchecked) var rereadForMissingAddress = false

        init(pid: UInt32, startTime: UInt64, mappings: [Mapping], now: UInt64) {
            self.pid = pid
            self.startTime = startTime
            self.mappings = mappings
            bounds = MappingBounds(mappings)
            resolved = Array(repeating: nil, count: mappings.count)
            validatedAt = now
            lastUsed = Atomic(now)
        }

        /// The index of the mapping containing `address` (mappings are sorted by start, as the
        /// kernel lists them).
        func mappingIndex(containing address: UInt64) -> Int? {
            bounds.index(containing: address)
        }
    }

    let capacity: Int
    let revalidateAfterNanoseconds: UInt64
    @exclusivity(unchecked) private var processes: [UInt32: Process] = [:]
    @exclusivity(unchecked) private(set) var reads = 0

    init(capacity: Int, revalidateAfter: Duration) {
        self.capacity = capacity
        let (seconds, attoseconds) = revalidateAfter.components
        revalidateAfterNanoseconds = UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    /// The process `pid` if it is kept and not due for revalidation; nil otherwise (`process` then
    /// reads, revalidates or finds it gone). Writes nothing but the entry's atomic use time: the
    /// symbolize workers call it together, under the symbolizer's read lock.
    func existing(pid: UInt32, now: UInt64) -> Process? {
        guard let entry = processes[pid], !isDue(entry, now: now) else { return nil }
        entry.lastUsed.store(now, ordering: .relaxed)
        return entry
    }

    /// The process `pid` as it is now, or nil when it is gone (exited before symbolization).
    /// `now`: `monotonicNanoseconds()`, read once by the caller for the whole conversion.
    func process(pid: UInt32, now: UInt64 = monotonicNanoseconds()) -> Process? {
        if let entry = processes[pid] {
            if isDue(entry, now: now) {
                guard Self.startTime(pid: pid) == entry.startTime, let mappings = Self.readMappings(pid: pid) else {
                    processes[pid] = nil
                    return process(pid: pid, now: now)
                }
                reads += 1
                replaceMappings(of: entry, with: mappings)
                entry.validatedAt = now
                entry.rereadForMissingAddress = false
            }
            entry.lastUsed.store(now, ordering: .relaxed)
            return entry
        }
        guard let startTime = Self.startTime(pid: pid), let mappings = Self.readMappings(pid: pid) else { return nil }
        reads += 1
        if processes.count >= capacity, let oldest = processes.values.min(by: { $0.lastUsed.load(ordering: .relaxed) < $1.lastUsed.load(ordering: .relaxed) }) {
            processes[oldest.pid] = nil
        }
        let entry = Process(pid: pid, startTime: startTime, mappings: mappings, now: now)
        processes[pid] = entry
        return entry
    }

    /// Whether `entry` was validated longer than `revalidateAfter` before `now`. `now` may be
    /// older than the validation: a worker reads the clock before another one validates.
    private func isDue(_ entry: Process, now: UInt64) -> Bool {
        now > entry.validatedAt && now - entry.validatedAt > revalidateAfterNanoseconds
    }

    private func replaceMappings(of entry: Process, with mappings: [Mapping]) {
        guard mappings != entry.mappings else { return }
        entry.mappings = mappings
        entry.resolved = Array(repeating: nil, count: mappings.count)
    }

    /// Rereads a process's mappings once after an address fell outside all of them.
    func reread(_ entry: Process) -> Bool {
        guard !entry.rereadForMissingAddress, let mappings = Self.readMappings(pid: entry.pid) else { return false }
        reads += 1
        entry.rereadForMissingAddress = true
        replaceMappings(of: entry, with: mappings)
        return true
    }

    var count: Int { processes.count }

    /// Forgets what the kept mappings resolved to where `isStale` says so (they resolve again on
    /// their next frame). A table cache calls for this after evicting: without it, processes
    /// would keep evicted tables alive, and a file parsed again would be held twice — memory the
    /// cache's bound never sees.
    func forgetResolved(where isStale: (Resolved) -> Bool) {
        for process in processes.values {
            for index in process.resolved.indices {
                if case .some(.some(let resolved)) = process.resolved[index], isStale(resolved) { process.resolved[index] = nil }
            }
        }
    }

    static func readMappings(pid: UInt32) -> [Mapping]? {
        guard let bytes = FileContents.bytes("/proc/\(pid)/maps"), !bytes.isEmpty else { return nil }
        return bytes.withUnsafeBytes { ProcessMaps.parse($0, executableOnly: true) }
    }

    /// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks since boot.
    static func startTime(pid: UInt32) -> UInt64? {
        guard let text = FileContents.text("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
        // After "pid (comm)" come fields 3…; the comm may hold spaces and parentheses.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

}

/// The starts, ends and file offsets of a process's mappings, by mapping index.
struct MappingBounds {
    let starts: [UInt64]
    let ends: [UInt64]
    let fileOffsets: [UInt64]

    init(_ mappings: [Mapping]) {
        starts = mappings.map(\.start)
        ends = mappings.map(\.end)
        fileOffsets = mappings.map(\.fileOffset)
    }

    /// The index of the mapping containing `address` (mappings are sorted by start, as the
    /// kernel lists them).
    func index(containing address: UInt64) -> Int? {
        guard let index = starts.lastIndex(atOrBelow: address), address < ends[index] else { return nil }
        return index
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the caches' clock.
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
