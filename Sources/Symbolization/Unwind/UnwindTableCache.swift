import Synchronization
import Unwinding

#if canImport(Glibc)
import Glibc
#endif

/// One file's unwind table and how the file's bytes are placed at its virtual addresses.
final class UnwindFile: Sendable {
    let table: UnwindTable
    let segments: LoadSegments
    /// Set (under the cache's lock) when the cache evicts the file: whoever still holds it drops it.
    let isEvicted = Atomic(false)

    init(table: UnwindTable, segments: LoadSegments) {
        self.table = table
        self.segments = segments
    }

    var byteCount: Int { table.byteCount + segments.byteCount }
}

/// Unwind tables by file, shared by every unwind worker, within a memory bound: one ELF file's
/// CFI is parsed once however many processes (and workers) meet it. Files are found by
/// (device, inode, size, mtime) of the opened file, as `SymbolTableCache` finds them; the least
/// recently used tables go first when their bytes pass `byteLimit`.
///
/// A table is built outside the lock (milliseconds for glibc, a third of a second for an
/// 85 MB compiler), so one worker's build does not stall the others' lookups.
final class UnwindTableCache: Sendable {
    private struct State: ~Copyable {
        var files: [SymbolTableCache.FileKey: (file: UnwindFile?, lastUsed: UInt64)] = [:]
        var clock: UInt64 = 0
        var bytes = 0
        var builds = 0
        var failures = 0
        var debugFiles = 0
    }

    let byteLimit: Int
    let debugDirectories: [String]
    private let state = Mutex(State())
    /// Files evicted so far, read without the lock once a record: when it moves, a worker drops
    /// the files marked `isEvicted` from its process entries (otherwise they would stay alive
    /// there, beyond `byteLimit`, and a file built again would be held twice).
    let evictions = Atomic(0)

    init(byteLimit: Int, debugDirectories: [String]) {
        self.byteLimit = byteLimit
        self.debugDirectories = debugDirectories
    }

    /// The unwind table of the file open at `fd` (owned by the caller), built on first sight;
    /// nil when the file cannot be read as ELF (counted). A readable file without CFI has an
    /// empty table: the walker's frame-pointer fallback still applies in it.
    func file(fd: Int32, path: String, originalDirectory: String?) -> UnwindFile? {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        let key = SymbolTableCache.FileKey(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size), modified: status.st_mtim.tv_sec)
        let cached = state.withLock { state -> UnwindFile?? in
            state.clock += 1
            guard let entry = state.files[key] else { return nil }
            state.files[key] = (entry.file, state.clock)
            return .some(entry.file)
        }
        if let cached { return cached }

        let built = build(fd: fd, path: path, originalDirectory: originalDirectory)
        return state.withLock { state in
            if built == nil { state.failures += 1 } else { state.builds += 1 }
            // Another worker built it meanwhile: its copy is the one held (one table alive per
            // file, as the byte bound counts them).
            if let held = state.files[key] { return held.file }
            state.bytes += built?.byteCount ?? 0
            state.files[key] = (built, state.clock)
            evict(&state)
            return built
        }
    }

    private func build(fd: Int32, path: String, originalDirectory: String?) -> UnwindFile? {
        do {
            let own = dup(fd)
            guard own >= 0 else { return nil }
            let file = try ELFFile(fd: own, path: path)
            let sections = try file.sections()
            let ehFrame = sections.ehFrame.flatMap { file.hasContents($0) ? $0 : nil }
            var debugFrame = sections.debugFrame.flatMap { file.hasContents($0) ? (file, $0) : nil }
            if ehFrame == nil && debugFrame == nil {
                // Stripped of both: `.debug_frame` may be in the separate debug file.
                var locator = DebugFileLocator(directories: debugDirectories)
                if let debug = locator.debugFile(for: file, sections: sections, originalDirectory: originalDirectory),
                    let section = debug.sections.debugFrame, debug.file.hasContents(section)
                {
                    debugFrame = (debug.file, section)
                    state.withLock { $0.debugFiles += 1 }
                }
            }
            // Built from the sections where libelf read them: a large file's `.eh_frame` is megabytes.
            let table = try file.withContents(of: ehFrame) { eh in
                try (debugFrame?.0 ?? file).withContents(of: debugFrame?.1) { debug in
                    try UnwindTable(
                        ehFrame: eh.map { CFISection(bytes: $0.bytes, virtualAddress: $0.address, format: .ehFrame) },
                        debugFrame: debug.map { CFISection(bytes: $0.bytes, virtualAddress: $0.address, format: .debugFrame) })
                }
            }
            return UnwindFile(table: table, segments: file.segments())
        } catch {
            return nil
        }
    }

    private func evict(_ state: inout State) {
        while state.bytes > byteLimit && state.files.count > 1 {
            guard let oldest = state.files.min(by: { $0.value.lastUsed < $1.value.lastUsed }) else { return }
            state.files[oldest.key] = nil
            state.bytes -= oldest.value.file?.byteCount ?? 0
            oldest.value.file?.isEvicted.store(true, ordering: .relaxed)
            // Releasing: a worker that sees the new count sees the flag.
            evictions.add(1, ordering: .releasing)
        }
    }

    /// Tables held, their bytes, builds, failed builds, and `.debug_frame`s taken from debug files.
    var statistics: (tables: Int, bytes: Int, builds: Int, failures: Int, debugFiles: Int) {
        state.withLock { ($0.files.count, $0.bytes, $0.builds, $0.failures, $0.debugFiles) }
    }
}
