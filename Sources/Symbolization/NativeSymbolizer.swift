public import TraceModel
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The real `TraceProcessor`: names native frames through the process's mappings and the mapped
/// files' ELF symbols, and kernel frames through kallsyms.
///
/// Per frame (leaf first, kernel part then user part):
/// - a return address is looked up one byte back, inside the call that made it;
/// - native: mapping → file offset → the file's virtual address (PT_LOAD) → the symbol containing
///   it. The frame's `lineno` becomes that virtual address and its file the file's `FileID`, so
///   one function hashes alike in every process, whatever ASLR did;
/// - a frame that cannot be named keeps its address (and mapping, when known), is marked with the
///   error bit and shows as `module+0xoffset` — never dropped. A process that exited before
///   symbolization has no mappings left: its user frames show as `[exited]+0xaddress`, and an
///   address outside every mapping as `[unknown]+0xaddress`.
///
/// Shared by the engine's symbolize workers, which convert in parallel: a trace whose every
/// process, mapping, table and name is already in the caches is converted under a read lock that
/// the workers share; one that needs something read or made is converted again under the write
/// lock, alone, filling the caches for the next ones.
public final class NativeSymbolizer: TraceProcessor {
    /// The caches: read under `lock`'s read side, changed only under its write side.
    private final class Caches: @unchecked Sendable {
        // @unchecked: guarded by the symbolizer's `lock` as said above, which also makes the
        // dynamic exclusivity check (one thread's overlapping accesses) a cost with no use.
        let processes: ProcessMappingCache<SymbolTable>
        let tables: SymbolTableCache
        @exclusivity(unchecked) var kernel: KernelSymbols
        @exclusivity(unchecked) var kernelCheckedAt: UInt64 = 0
        /// `tables.evictions` when process entries last dropped evicted tables.
        var sweptEvictions = 0

        init(processes: ProcessMappingCache<SymbolTable>, tables: SymbolTableCache, kernel: KernelSymbols) {
            self.processes = processes
            self.tables = tables
            self.kernel = kernel
        }
    }

    private let lock = ReadWriteLock()
    private let caches: Caches
    /// Kernel frames' file: a fixed id, so kernel frames hash by address alone.
    static let kernelFileID = FileID(high: 0x6b65_726e_656c, low: 0)  // "kernel"
    /// How often the kernel's symbols are checked for a module loaded or removed.
    private static let kernelCheckNanoseconds: UInt64 = 10_000_000_000

    /// Told of each file whose symbols a process's mapping resolved to (and of the kernel once).
    private let executableReporter: (any ExecutableReporter)?

    /// - Parameter executableReporter: learns each executable file's name and build id, once per
    ///   process that maps it (reporters keep one entry a file), from inside the symbolizer's write
    ///   lock: keep it quick.
    public init(
        configuration: SymbolizerConfiguration = SymbolizerConfiguration(), executableReporter: (any ExecutableReporter)? = nil
    ) throws(ConfigurationError) {
        try configuration.validate()
        self.executableReporter = executableReporter
        executableReporter?.reportExecutable(ExecutableMetadata(fileID: Self.kernelFileID, fileName: "[kernel.kallsyms]", buildID: nil))
        caches = Caches(
            processes: ProcessMappingCache(capacity: configuration.processes, revalidateAfter: configuration.revalidateAfter),
            tables: SymbolTableCache(byteLimit: configuration.symbolTableBytes, debugDirectories: configuration.debugDirectories),
            kernel: KernelSymbols())
    }

    public func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        withUnsafePointer(to: rawTrace) { convert(rawTraceAt: $0, into: &trace) }
    }

    public func convertTrace(inPlace rawTrace: Span<RawTrace>, into trace: inout Trace) {
        rawTrace.withUnsafeBufferPointer { convert(rawTraceAt: $0.baseAddress!, into: &trace) }
    }

    private func convert(rawTraceAt rawTrace: UnsafePointer<RawTrace>, into trace: inout Trace) {
        let pid = rawTrace.pointee.pid
        let hasUserFrames = rawTrace.pointee.userFrameCount > 0
        RawTrace.withFrames(at: rawTrace) { frames in
            // Every frame becomes exactly one row, so the rows are written in place (again, when
            // the shared pass gives up).
            trace.withFrameRows(count: frames.count) { rows in
                let now = monotonicNanoseconds()
                let converted = lock.withReadLock {
                    convertFrames(frames, pid: pid, hasUserFrames: hasUserFrames, now: now, rows: rows, mayFill: false)
                }
                if converted { return }
                lock.withWriteLock {
                    _ = convertFrames(frames, pid: pid, hasUserFrames: hasUserFrames, now: now, rows: rows, mayFill: true)
                    // After the loop: `recent` (unretained) may point at a table only a process entry holds.
                    forgetEvictedTables()
                }
            }
        }
        trace.isSymbolized = true
    }

    /// Names every frame into `rows`. Under the read lock (`mayFill` false) it only looks up: it
    /// returns false at the first frame that needs something read or made, and the caller
    /// converts the trace again under the write lock (`mayFill`), where it always completes.
    private func convertFrames(
        _ frames: UnsafeBufferPointer<Frame>, pid: UInt32, hasUserFrames: Bool, now: UInt64, rows: borrowing FrameRows, mayFill: Bool
    ) -> Bool {
        if mayFill {
            refreshKernelSymbolsIfStale(now: now)
        } else if now > caches.kernelCheckedAt && now - caches.kernelCheckedAt > Self.kernelCheckNanoseconds {
            return false
        }
        var process: ProcessMappingCache<SymbolTable>.Process?
        if hasUserFrames {
            process = mayFill ? caches.processes.process(pid: pid, now: now) : caches.processes.existing(pid: pid, now: now)
            if process == nil && !mayFill { return false }
        }
        // Frames use the entry unretained: every worker shares it, and a retain and release a frame
        // moved its count between their CPUs. The cache's table of processes holds it meanwhile
        // (under either side of the lock nothing removes it: a reread replaces its mappings, not
        // the entry), and `process` too, until the loop ends.
        let entry = process.map(Unmanaged.passUnretained)
        defer { withExtendedLifetime(process) {} }
        let kernel = caches.kernel
        var recent = RecentMapping()
        for (row, frame) in frames.enumerated() {
            let address = frame.addressOrLine
            let lookup = frame.isReturnAddress ? address &- 1 : address
            switch frame.type.interpreter {
            case .kernel:
                let name = kernel.name(containing: lookup)
                rows.set(row, file: Self.kernelFileID, lineno: address, type: name == nil ? FrameType.kernel.asError : .kernel, symbol: name)
            case .native:
                guard setNative(row, address: address, lookup: lookup, process: entry, recent: &recent, rows: rows, mayFill: mayFill) else {
                    return false
                }
            default:
                rows.set(row, file: FileID(frame.fileID), lineno: address, type: frame.type)
            }
        }
        return true
    }

    /// The mapping the previous frame of a trace fell in, and its table: callers are often in the
    /// same file as their callees, and this skips the search and the lookups for them.
    ///
    /// `table` is unmanaged and used as a guaranteed reference, so a frame costs no retain and
    /// release of it: the table is held by `process.resolved` (and `process` by the converting
    /// call) for as long as this value lives, one conversion under either side of the lock.
    private struct RecentMapping {
        var start: UInt64 = 0
        var end: UInt64 = 0
        var fileOffset: UInt64 = 0
        var index = 0
        var table: Unmanaged<SymbolTable>?
    }

    /// Names one native frame; false when it needs the caches filled and `mayFill` is false.
    private func setNative(
        _ row: Int, address: UInt64, lookup: UInt64, process entry: Unmanaged<ProcessMappingCache<SymbolTable>.Process>?,
        recent: inout RecentMapping, rows: borrowing FrameRows, mayFill: Bool
    ) -> Bool {
        guard let entry else {
            // Exited before symbolization: no mapping left to name the module.
            rows.set(row, file: FileID(high: 0, low: 0), lineno: address, type: FrameType.native.asError, symbol: OffsetName.make("[exited]".utf8, address))
            return true
        }
        return entry._withUnsafeGuaranteedRef { process in
            nameNativeFrame(row, address: address, lookup: lookup, process: process, recent: &recent, rows: rows, mayFill: mayFill)
        }
    }

    /// `setNative` for a frame of a process whose mappings are known.
    private func nameNativeFrame(
        _ row: Int, address: UInt64, lookup: UInt64, process: ProcessMappingCache<SymbolTable>.Process, recent: inout RecentMapping,
        rows: borrowing FrameRows, mayFill: Bool
    ) -> Bool {
        if !(lookup >= recent.start && lookup < recent.end) {
            var found = process.mappingIndex(containing: lookup)
            // Outside every mapping: the maps are read again once a revalidation period. Once
            // they were, such an address is `[unknown]` under the read lock too.
            if found == nil && (mayFill || !process.rereadForMissingAddress) {
                guard mayFill else { return false }
                if caches.processes.reread(process) {
                    // The reread replaced the mappings and released their tables: what `recent`
                    // holds (an unretained table, an index into the old mappings) must not be used again.
                    recent = RecentMapping()
                    found = process.mappingIndex(containing: lookup)
                }
            }
            guard let mappingIndex = found else {
                rows.set(row, file: FileID(high: 0, low: 0), lineno: address, type: FrameType.native.asError, symbol: OffsetName.make("[unknown]".utf8, address))
                return true
            }
            let table: SymbolTable?
            if let resolved = process.resolved[mappingIndex] {
                table = resolved
            } else {
                guard mayFill else { return false }
                table = symbolTable(forMapping: mappingIndex, in: process)
            }
            let bounds = process.bounds
            recent = RecentMapping(
                start: bounds.starts[mappingIndex], end: bounds.ends[mappingIndex], fileOffset: bounds.fileOffsets[mappingIndex],
                index: mappingIndex, table: table.map(Unmanaged.passUnretained))
        }
        let mapping = recent
        let named = mapping.table?._withUnsafeGuaranteedRef { table -> Bool? in
            guard let virtualAddress = table.virtualAddress(forFileOffset: lookup &- mapping.start &+ mapping.fileOffset),
                let index = table.symbolIndex(containing: virtualAddress)
            else { return false }
            let symbol: String
            if mayFill {
                guard let name = table.cachedDisplayName(index) else { return false }
                symbol = name
            } else {
                switch table.madeDisplayName(index) {
                case .name(let name): symbol = name
                case .unreadable: return false
                case .notMade: return nil
                }
            }
            let frameAddress = virtualAddress &+ (address &- lookup)
            rows.set(
                row, file: table.fileID, lineno: frameAddress, type: .native, mappingStart: mapping.start, mappingEnd: mapping.end,
                mappingFileOffset: mapping.fileOffset, symbol: symbol)
            return true
        }
        switch named {
        case true?: return true
        case nil where mapping.table != nil: return false  // a name not made yet
        default: break
        }
        let fileOffset = address &- mapping.start &+ mapping.fileOffset
        rows.set(
            row, file: mapping.table?.takeUnretainedValue().fileID ?? FileID(high: 0, low: 0), lineno: fileOffset, type: FrameType.native.asError,
            mappingStart: mapping.start, mappingEnd: mapping.end, mappingFileOffset: mapping.fileOffset,
            symbol: OffsetName.make(module: process.mappings[mapping.index], fileOffset))
        return true
    }

    /// The mapping's file's symbols: through `/proc/<pid>/map_files` (the very file mapped, even
    /// if its path was replaced), else `/proc/<pid>/root/<path>`; resolved once per mapping.
    private func symbolTable(forMapping index: Int, in process: ProcessMappingCache<SymbolTable>.Process) -> SymbolTable? {
        if let resolved = process.resolved[index] { return resolved }
        let mapping = process.mappings[index]
        var table: SymbolTable?
        if mapping.path == "[vdso]", let vdso = VDSOImage.descriptor {
            table = caches.tables.table(fd: vdso, path: "[vdso]")
        } else if mapping.isFile {
            let mapFile = "/proc/\(process.pid)/map_files/\(String(mapping.start, radix: 16))-\(String(mapping.end, radix: 16))"
            var fd = open(mapFile, O_RDONLY | O_CLOEXEC)
            if fd < 0 { fd = open("/proc/\(process.pid)/root\(mapping.path)", O_RDONLY | O_CLOEXEC) }
            if fd >= 0 {
                let directory = mapping.path.lastIndex(of: "/").map { "/proc/\(process.pid)/root" + mapping.path[..<$0] }
                table = caches.tables.table(fd: fd, path: mapping.path, originalDirectory: directory)
                close(fd)
            }
        }
        process.resolved[index] = .some(table)
        if let table, let executableReporter {
            executableReporter.reportExecutable(ExecutableMetadata(fileID: table.fileID, fileName: mapping.path, buildID: table.buildID))
        }
        return table
    }

    /// Drops the tables the cache evicted from the process entries that still hold them, so that
    /// `symbolize.symbol-table-bytes` bounds every table alive, not only the cached ones.
    private func forgetEvictedTables() {
        guard caches.tables.evictions != caches.sweptEvictions else { return }
        caches.sweptEvictions = caches.tables.evictions
        caches.processes.forgetResolved(where: \.isEvicted)
    }

    private func refreshKernelSymbolsIfStale(now: UInt64) {
        guard now > caches.kernelCheckedAt && now - caches.kernelCheckedAt > Self.kernelCheckNanoseconds else { return }
        caches.kernelCheckedAt = now
        if caches.kernel.isStale { caches.kernel = KernelSymbols() }
    }

    /// What the caches hold, for the agent's summary and the tests.
    public func statistics() -> SymbolizerStatistics {
        lock.withReadLock {
            let state = caches
            return SymbolizerStatistics(
                processes: state.processes.count, mapsReads: state.processes.reads, symbolTables: state.tables.count,
                symbolTableBytes: state.tables.bytes, elfParses: state.tables.parses,
                kernelSymbols: state.kernel.symbolCount, unreadableFiles: state.tables.failures.count,
                debugFiles: state.tables.debugFiles.found, debugFilesRejected: state.tables.debugFiles.rejected,
                miniDebugInfo: state.tables.miniDebugInfo.used, miniDebugInfoOverLimit: state.tables.miniDebugInfo.overLimit,
                miniDebugInfoCorrupt: state.tables.miniDebugInfo.corrupt)
        }
    }
}

/// What the symbolizer's caches hold and have done since it was made
/// (`NativeSymbolizer.statistics()`).
public struct SymbolizerStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Processes whose mappings are kept (at most `SymbolizerConfiguration.processes`).
    public var processes: Int
    /// Reads of a `/proc/<pid>/maps` so far, rereads included.
    public var mapsReads: Int
    /// Symbol tables held.
    public var symbolTables: Int
    /// Their approximate memory, in bytes (bounded by `SymbolizerConfiguration.symbolTableBytes`).
    public var symbolTableBytes: Int
    /// ELF files parsed into tables so far; a file evicted and met again is parsed again.
    public var elfParses: Int
    /// Function symbols read from `/proc/kallsyms` (0 when it gave no addresses).
    public var kernelSymbols: Int
    /// Files that could not be read as ELF, counted by path (up to 1024).
    public var unreadableFiles: Int
    /// Separate debug files that named a stripped file's functions, and candidates refused
    /// because their build id or CRC did not match.
    public var debugFiles: Int
    /// Debug file candidates refused: their build id or CRC did not match.
    public var debugFilesRejected: Int
    /// Stripped files whose local functions were named from their `.gnu_debugdata`, and such
    /// sections refused: claiming more than the decoding limits allow, or corrupt (not one intact
    /// xz stream of an ELF file with functions). A refused file keeps its `.dynsym` names.
    public var miniDebugInfo: Int
    /// `.gnu_debugdata` sections refused for claiming more than the decoding limits allow.
    public var miniDebugInfoOverLimit: Int
    /// `.gnu_debugdata` sections refused as corrupt.
    public var miniDebugInfoCorrupt: Int

    public var description: String {
        "processes \(processes) (maps read \(mapsReads) times), symbol tables \(symbolTables) (\(symbolTableBytes >> 10) KiB, "
            + "\(elfParses) parses, \(unreadableFiles) unreadable files, \(debugFiles) debug files, \(debugFilesRejected) not matching, "
            + "\(miniDebugInfo) .gnu_debugdata, \(miniDebugInfoOverLimit) over the limits, \(miniDebugInfoCorrupt) corrupt), "
            + "kernel symbols \(kernelSymbols)"
    }
}
