import Foundation
import Testing
@testable import Symbolization

/// The table caches' byte bounds hold for every table alive, not only the cached ones: a table
/// the cache evicts is also dropped by the process entries that resolved a mapping to it, so a
/// file parsed again is never held twice.
@Suite struct TableEvictionTests {
    /// Two distinct files this test process maps (executable mappings), and an fd for each.
    private static func twoMappedFiles() throws -> (processes: ProcessMappingCache<Int>, process: ProcessMappingCache<Int>.Process, indices: [Int]) {
        let processes = ProcessMappingCache<Int>(capacity: 4, revalidateAfter: .seconds(3600))
        let process = try #require(processes.process(pid: UInt32(getpid())))
        var seen: Set<String> = []
        let indices = process.mappings.indices.filter { process.mappings[$0].isFile && seen.insert(process.mappings[$0].path).inserted }
        try #require(indices.count >= 2, "this process maps at least two files")
        return (processes, process, Array(indices.prefix(2)))
    }

    private static func open(_ path: String) throws -> Int32 {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0, "open \(path)")
        return fd
    }

    @Test func processEntriesDropSymbolTablesTheCacheEvicted() throws {
        let (_, process, indices) = try Self.twoMappedFiles()
        let paths = indices.map { process.mappings[$0].path }
        let tables = SymbolTableCache(byteLimit: 1)  // room for one table only
        let cache = ProcessMappingCache<SymbolTable>(capacity: 4, revalidateAfter: .seconds(3600))
        let entry = try #require(cache.process(pid: UInt32(getpid())))
        let slots = paths.map { path in entry.mappings.firstIndex { $0.path == path }! }

        let firstFD = try Self.open(paths[0])
        defer { close(firstFD) }
        weak let first = tables.table(fd: firstFD, path: paths[0])
        entry.resolved[slots[0]] = .some(first)
        let secondFD = try Self.open(paths[1])
        defer { close(secondFD) }
        let second = try #require(tables.table(fd: secondFD, path: paths[1]))
        entry.resolved[slots[1]] = .some(second)

        #expect(tables.evictions == 1)
        #expect(tables.count == 1 && !second.isEvicted)
        #expect(first != nil, "before the sweep the process entry keeps the evicted table alive")
        #expect(first?.isEvicted == true)
        cache.forgetResolved(where: \.isEvicted)
        #expect(first == nil, "the evicted table is released once the process entry drops it")
        #expect(entry.resolved[slots[0]] == nil, "the mapping resolves again on its next frame")
        #expect(entry.resolved[slots[1]]??.fileID == second.fileID, "the cached table stays resolved")
    }

    @Test func unwindWorkersSeeEvictedFilesMarked() throws {
        let (_, process, indices) = try Self.twoMappedFiles()
        let paths = indices.map { process.mappings[$0].path }
        let tables = UnwindTableCache(byteLimit: 1, debugDirectories: [])
        let fds = try paths.map(Self.open)
        defer { fds.forEach { close($0) } }
        let first = try #require(tables.file(fd: fds[0], path: paths[0], originalDirectory: nil))
        let evictedBefore = first.isEvicted.load(ordering: .relaxed)
        #expect(tables.evictions.load(ordering: .acquiring) == 0 && !evictedBefore)
        let second = try #require(tables.file(fd: fds[1], path: paths[1], originalDirectory: nil))
        #expect(tables.evictions.load(ordering: .acquiring) == 1)
        let (firstEvicted, secondEvicted) = (first.isEvicted.load(ordering: .relaxed), second.isEvicted.load(ordering: .relaxed))
        #expect(firstEvicted, "the evicted file is marked for the workers that hold it")
        #expect(!secondEvicted)
        #expect(tables.statistics.tables == 1)
    }
}
