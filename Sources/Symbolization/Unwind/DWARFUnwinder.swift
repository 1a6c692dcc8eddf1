internal import CTraceRecord
public import TraceModel
import Unwinding

#if canImport(Glibc)
import Glibc
#endif

/// The engine's `SnapshotUnwinder` for native code: walks a record's user stack snapshot with
/// the DWARF call-frame information of the files the process maps (`.eh_frame`, else
/// `.debug_frame`, from the file or its separate debug file), as perf's `--call-graph dwarf`
/// does, and writes the stack found over the record's frame-pointer user frames.
///
/// Per record, on the calling unwind worker:
/// - the snapshot (IP, SP, BP, stack bytes) is read from behind the frames, its sizes checked
///   against the record's;
/// - the process's mappings come from this worker's own cache (no lock per frame); each
///   mapping's unwind table from the shared `UnwindTableCache` (built once per file);
/// - `StackWalker` writes the leaf and one return address per caller;
/// - the walk's frames replace the frame-pointer frames unless the frame-pointer stack is longer
///   and the walk did not reach the outermost frame (then the frame-pointer stack stays, and
///   that is counted).
public final class DWARFUnwinder: SnapshotUnwinder, @unchecked Sendable {
    // @unchecked: `workers` is written once, by `prepare`, before any worker thread starts (the
    // thread's creation orders it); afterwards worker i touches only `workers[i]`.
    private var workers: [Worker] = []
    private let tables: UnwindTableCache
    private let configuration: UnwinderConfiguration
    private let walker: StackWalker

    /// One worker's state: its process cache, its frame buffer, and the mapping the last frame
    /// fell in (callers are mostly in the same file as their callees: the search and the
    /// per-mapping lookup are skipped for them).
    private final class Worker {
        let processes: ProcessMappingCache<ResolvedUnwindMapping>
        let frames: UnsafeMutableBufferPointer<UInt64>
        let recent = RecentMapping()
        /// `UnwindTableCache.evictions` when this worker last dropped evicted files.
        var sweptEvictions = 0

        init(_ configuration: UnwinderConfiguration) {
            processes = ProcessMappingCache(capacity: configuration.processes, revalidateAfter: configuration.revalidateAfter)
            frames = .allocate(capacity: RawTrace.maxFrames)
        }

        deinit { frames.deallocate() }
    }

    /// Checks `configuration` (`UnwinderConfiguration.validate()`, whose error it throws); the table
    /// cache starts empty.
    public init(configuration: UnwinderConfiguration = UnwinderConfiguration()) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        tables = UnwindTableCache(byteLimit: configuration.tableBytes, debugDirectories: configuration.debugDirectories)
        walker = StackWalker(maximumFrames: RawTrace.maxFrames, framePointerFallback: configuration.framePointerFallback)
    }

    public func prepare(workers count: Int) {
        workers = (0..<count).map { _ in Worker(configuration) }
    }

    public func unwind(record: UnsafeMutableRawBufferPointer, byteCount: Int, worker: Int) -> UnwindOutcome {
        let header = RawTrace.headerSize
        let frameSize = RawTrace.frameSize
        let kernel = Int(record.loadUnaligned(fromByteOffset: Int(TH_OFFSET_KERNEL_FRAME_COUNT), as: UInt16.self))
        let user = Int(record.loadUnaligned(fromByteOffset: Int(TH_OFFSET_USER_FRAME_COUNT), as: UInt16.self))
        let framesEnd = header + (kernel + user) * frameSize
        let framePointerRecord = UnwindOutcome(byteCount: framesEnd, stop: .malformedSnapshot, keptFramePointerStack: true)
        // The engine offered this record because it carries a snapshot; check it all the same.
        let snapshot = framesEnd
        guard kernel + user <= RawTrace.maxFrames, byteCount <= record.count, snapshot + RawTrace.snapshotHeaderSize <= byteCount else {
            return framePointerRecord
        }
        let stackBytes = Int(record.loadUnaligned(fromByteOffset: snapshot + Int(TH_OFFSET_SNAPSHOT_STACK_BYTES), as: UInt32.self))
        let stackStart = snapshot + RawTrace.snapshotHeaderSize
        guard stackBytes <= byteCount - stackStart else { return framePointerRecord }
        let registers = UserRegisters(
            ip: record.loadUnaligned(fromByteOffset: snapshot + Int(TH_OFFSET_SNAPSHOT_IP), as: UInt64.self),
            sp: record.loadUnaligned(fromByteOffset: snapshot + Int(TH_OFFSET_SNAPSHOT_SP), as: UInt64.self),
            bp: record.loadUnaligned(fromByteOffset: snapshot + Int(TH_OFFSET_SNAPSHOT_BP), as: UInt64.self))
        let pid = record.loadUnaligned(fromByteOffset: 0, as: UInt32.self)  // th_trace_record.pid: the first field

        let state = workers[worker]
        state.recent.forget()  // another record, maybe another process
        forgetEvictedFiles(state)
        guard let process = state.processes.process(pid: pid) else {
            return UnwindOutcome(byteCount: framesEnd, stop: .noMapping, keptFramePointerStack: true)
        }
        let stack = UnsafeRawBufferPointer(rebasing: record[stackStart..<stackStart + stackBytes])
        let room = UnsafeMutableBufferPointer(rebasing: state.frames[0..<(RawTrace.maxFrames - kernel)])
        let lookup = ProcessUnwindLookup(process: process, processes: state.processes, tables: tables, recent: state.recent)
        let walk = walker.walk(registers: registers, stack: stack, lookup: lookup, into: room)
        let stop = Self.stop(walk.stopReason)
        guard walk.frameCount >= user || walk.stopReason == .outermostFrame else {
            return UnwindOutcome(byteCount: framesEnd, stop: stop, keptFramePointerStack: true)
        }
        // The walk's frames over the frame-pointer ones (the snapshot behind them is read).
        let frames = (record.baseAddress! + header).bindMemory(to: th_frame.self, capacity: RawTrace.maxFrames)
        for index in 0..<walk.frameCount {
            let exact = index < 128 && walk.exactFrames & (1 << UInt128(index)) != 0
            frames[kernel + index] = th_frame(
                file_id: 0, address_or_line: room[index], kind: UInt8(TH_FRAME_NATIVE), return_address: exact ? 0 : 1,
                pad: (0, 0, 0, 0, 0, 0))
        }
        record.storeBytes(of: UInt16(walk.frameCount), toByteOffset: Int(TH_OFFSET_USER_FRAME_COUNT), as: UInt16.self)
        return UnwindOutcome(byteCount: header + (kernel + walk.frameCount) * frameSize, stop: stop, keptFramePointerStack: false)
    }

    /// Drops the files the shared cache evicted from this worker's process entries, so that
    /// `unwind.table-bytes` bounds every table alive, not only the cached ones.
    private func forgetEvictedFiles(_ state: Worker) {
        let evictions = tables.evictions.load(ordering: .acquiring)
        guard evictions != state.sweptEvictions else { return }
        state.sweptEvictions = evictions
        state.processes.forgetResolved { $0.file.isEvicted.load(ordering: .relaxed) }
    }

    private static func stop(_ reason: StackWalkStopReason) -> UnwindStop {
        switch reason {
        case .outermostFrame: .complete
        case .noMapping: .noMapping
        case .noRule: .noRule
        case .unsupportedRule: .unsupportedRule
        case .snapshotTooShort: .snapshotTooShort
        case .frameLimit: .frameLimit
        case .badFrame: .badFrame
        }
    }

    /// What the unwind tables hold, for the run summary.
    public func statistics() -> UnwinderStatistics {
        let tables = self.tables.statistics
        return UnwinderStatistics(
            tables: tables.tables, tableBytes: tables.bytes, tableBuilds: tables.builds, unreadableFiles: tables.failures,
            debugFrames: tables.debugFiles)
    }
}

/// What the DWARF unwinder's caches hold.
public struct UnwinderStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Files in the shared table cache, each with its table or remembered as unreadable.
    public var tables: Int
    /// Bytes the tables hold (bounded by `UnwinderConfiguration.tableBytes`).
    public var tableBytes: Int
    /// Tables built so far; a file evicted and met again is built again.
    public var tableBuilds: Int
    /// Builds that failed: the file was not readable as ELF, or its CFI had more rows than the limit.
    public var unreadableFiles: Int
    /// `.debug_frame`s read from separate debug files (files stripped of both CFI sections).
    public var debugFrames: Int

    public var description: String {
        "unwind tables \(tables) (\(tableBytes >> 10) KiB, \(tableBuilds) builds, \(unreadableFiles) unreadable files, "
            + "\(debugFrames) from debug files)"
    }
}

/// The mapping one frame of a record fell in, and what it resolved to.
private final class RecentMapping {
    var start: UInt64 = 0
    var end: UInt64 = 0
    /// What the walker gets for the next frames in `start ..< end`: rows without a reference.
    private(set) var resolved: UnwindTableMapping?
    /// Keeps `resolved`'s table alive: a reread of the process's maps during a walk can drop the
    /// process entry's reference while this mapping is still the recent one.
    private var holder: ResolvedUnwindMapping?

    func remember(start: UInt64, end: UInt64, _ resolved: ResolvedUnwindMapping?) {
        (self.start, self.end, holder, self.resolved) = (start, end, resolved, resolved?.mapping)
    }

    func forget() { end = 0 }
}

/// A mapping's file as the unwind table cache gave it, and where the process placed it.
struct ResolvedUnwindMapping {
    let file: UnwindFile
    let loadBias: UInt64

    var mapping: UnwindTableMapping { UnwindTableMapping(table: file.table, loadBias: loadBias) }
}

/// The walker's view of one process: its mappings (from the worker's cache) and each mapped
/// file's table and load bias, resolved once per mapping.
private struct ProcessUnwindLookup: UnwindTableLookup {
    let process: ProcessMappingCache<ResolvedUnwindMapping>.Process
    let processes: ProcessMappingCache<ResolvedUnwindMapping>
    let tables: UnwindTableCache
    let recent: RecentMapping

    func mapping(containing address: UInt64) -> UnwindTableMapping? {
        if address >= recent.start && address < recent.end { return recent.resolved }
        var found = process.mappingIndex(containing: address)
        // Mapped since the maps were read (dlopen): read them again, once per period.
        if found == nil, processes.reread(process) { found = process.mappingIndex(containing: address) }
        guard let index = found else { return nil }
        let resolved: ResolvedUnwindMapping?
        if let known = process.resolved[index] {
            resolved = known
        } else {
            resolved = resolve(process.mappings[index])
            process.resolved[index] = .some(resolved)
        }
        let mapping = process.mappings[index]
        recent.remember(start: mapping.start, end: mapping.end, resolved)
        return recent.resolved
    }

    /// The table of the file behind `mapping`, opened as the symbolizer opens it: through
    /// `/proc/<pid>/map_files` (the very file mapped), else `/proc/<pid>/root/<path>`.
    private func resolve(_ mapping: Mapping) -> ResolvedUnwindMapping? {
        if mapping.path == "[vdso]", let vdso = VDSOImage.descriptor {
            guard let file = tables.file(fd: vdso, path: "[vdso]", originalDirectory: nil),
                let bias = file.segments.loadBias(mappingStart: mapping.start, fileOffset: mapping.fileOffset)
            else { return nil }
            return ResolvedUnwindMapping(file: file, loadBias: bias)
        }
        guard mapping.isFile else { return nil }
        let mapFile = "/proc/\(process.pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))"
        var fd = open(mapFile, O_RDONLY | O_CLOEXEC)
        if fd < 0 { fd = open("/proc/\(process.pid)/root\(mapping.path)", O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let directory = mapping.path.lastIndex(of: "/").map { "/proc/\(process.pid)/root" + mapping.path[..<$0] }
        guard let file = tables.file(fd: fd, path: mapping.path, originalDirectory: directory),
            let bias = file.segments.loadBias(mappingStart: mapping.start, fileOffset: mapping.fileOffset)
        else { return nil }
        return ResolvedUnwindMapping(file: file, loadBias: bias)
    }
}
