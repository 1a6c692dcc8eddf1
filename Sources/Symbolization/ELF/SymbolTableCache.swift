import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// Symbol tables by file, within a memory bound: one ELF file is parsed once however many
/// processes map it. Files are found by (device, inode, size, mtime) — cheap to get from an
/// open fd — and their tables are kept by `FileID`; the least recently used tables go first
/// when their total `byteCount` passes `byteLimit`.
final class SymbolTableCache {
    struct FileKey: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int
    }

    let byteLimit: Int
    private var byKey: [FileKey: FileID] = [:]
    private var tables: [FileID: (table: SymbolTable, lastUsed: UInt64)] = [:]
    private var clock: UInt64 = 0
    /// Files that could not be read as ELF, by key (at most 4096; then forgotten all at once).
    private var unreadable: Set<FileKey> = []
    private(set) var bytes = 0
    private(set) var parses = 0
    /// Parses that failed (a file remembered as unreadable is not tried again).
    private(set) var failedParses = 0
    private(set) var failures: [String: SymbolizationError] = [:]
    /// Tables evicted so far: when it moves, holders of tables (process entries) drop the ones
    /// marked `isEvicted`.
    private(set) var evictions = 0

    /// Where files stripped to `.dynsym` find their full symbols.
    private(set) var debugFiles: DebugFileLocator
    /// Where they find their local functions when no debug file is found.
    private(set) var miniDebugInfo = MiniDebugInfo()

    init(byteLimit: Int, debugDirectories: [String] = SymbolizerConfiguration().debugDirectories) {
        self.byteLimit = byteLimit
        debugFiles = DebugFileLocator(directories: debugDirectories)
    }

    /// The table of the file open at `fd` (owned by the caller), parsing it on first sight.
    /// `originalDirectory`: the file's directory as this process reaches it, where a debug
    /// link may point (nil: look in the debug directories only).
    func table(fd: Int32, path: String, originalDirectory: String? = nil) -> SymbolTable? {
        clock += 1
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        let key = FileKey(device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size), modified: status.st_mtim.tv_sec)
        if let id = byKey[key], let entry = tables[id] {
            tables[id] = (entry.table, clock)
            return entry.table
        }
        // A file that failed is not parsed again for every process that maps it (a crafted one
        // could otherwise cost a parse, and a decompression, per new process).
        guard !unreadable.contains(key) else { return nil }
        // Out of descriptors is not a property of the file: not remembered as unreadable.
        let own = dup(fd)
        guard own >= 0 else { return nil }
        do {
            let file = try ELFFile(fd: own, path: path)
            let sections = try file.sections()
            // The lookup order of gdb and perf: the file's .symtab, a separate debug file, then the
            // mini table in .gnu_debugdata beside .dynsym.
            let debugFile = sections.symtab == nil
                ? debugFiles.debugFile(for: file, sections: sections, originalDirectory: originalDirectory) : nil
            let localFunctions = sections.symtab == nil && debugFile == nil
                ? miniDebugInfo.functions(of: file, sections: sections) : FunctionSymbols()
            let table = try file.symbolTable(from: sections, debugFile: debugFile, miniDebugInfo: localFunctions)
            parses += 1
            byKey[key] = table.fileID
            // The same content under another key (a copy in another container layer) is the
            // table already held: one table alive per file, as the byte bound counts them.
            if let held = tables[table.fileID] {
                tables[table.fileID] = (held.table, clock)
                return held.table
            }
            bytes += table.byteCount
            tables[table.fileID] = (table, clock)
            evict()
            return table
        } catch {
            failedParses += 1
            if failures.count < 1024 { failures[path] = error }
            if unreadable.count >= 4096 { unreadable.removeAll(keepingCapacity: true) }
            unreadable.insert(key)
            return nil
        }
    }

    var count: Int { tables.count }

    private func evict() {
        while bytes > byteLimit && tables.count > 1 {
            guard let oldest = tables.min(by: { $0.value.lastUsed < $1.value.lastUsed }) else { return }
            tables[oldest.key] = nil
            bytes -= oldest.value.table.byteCount
            byKey = byKey.filter { $0.value != oldest.key }
            oldest.value.table.isEvicted = true
            evictions += 1
        }
    }
}
