import Foundation
@testable import Symbolization
import Testing

/// Separate debug files, made as distributions make them (`objcopy --only-keep-debug`, then
/// `--strip-all` and `--add-gnu-debuglink`): a stripped file's hidden functions are named from
/// them, and a debug file of another build is refused.
@Suite struct DebugFileTests {
    struct Layout {
        let directory: String
        let stripped: String
        let debug: String
        let debugDirectory: String
    }

    /// The fixture library stripped, its debug file split off, and a debug directory.
    private func layout(_ name: String) throws -> Layout {
        let built = try Fixtures.built.get()
        let directory = built.directory.appendingPathComponent("debug-\(name)").path
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/debugroot", withIntermediateDirectories: true)
        let layout = Layout(
            directory: directory, stripped: directory + "/libthfixture.so", debug: directory + "/libthfixture.so.debug",
            debugDirectory: directory + "/debugroot")
        try Fixtures.run("/usr/bin/objcopy", ["--only-keep-debug", built.library, layout.debug])
        try Fixtures.run("/usr/bin/objcopy", ["--strip-all", built.library, layout.stripped])
        return layout
    }

    private func table(_ path: String, debugDirectories: [String], originalDirectory: String?) throws -> (SymbolTable?, SymbolTableCache) {
        let cache = SymbolTableCache(byteLimit: 64 << 20, debugDirectories: debugDirectories)
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        return (cache.table(fd: fd, path: path, originalDirectory: originalDirectory), cache)
    }

    /// `th_lib_work` is hidden: only `.symtab` (gone from the stripped file) names it.
    private func namesHiddenFunction(_ table: SymbolTable?) throws -> Bool {
        let built = try Fixtures.built.get()
        let address = try #require(try Fixtures.nm(built.library)["th_lib_work"])
        guard let table, let index = table.symbolIndex(containing: address + 1) else { return false }
        return table.rawName(index) == "th_lib_work"
    }

    @Test func aStrippedFileWithoutItsDebugFileNamesOnlyExports() throws {
        let layout = try layout("none")
        let (table, cache) = try table(layout.stripped, debugDirectories: [layout.debugDirectory], originalDirectory: layout.directory)
        #expect(table?.isDynamicOnly == true)
        #expect(try !namesHiddenFunction(table))
        #expect(cache.debugFiles.found == 0)
    }

    @Test func theDebugFileIsFoundByBuildID() throws {
        let layout = try layout("build-id")
        let stripped = try SymbolTable.load(path: layout.stripped)
        let buildID = try #require(stripped.buildID)
        let folder = layout.debugDirectory + "/.build-id/" + buildID.prefix(2)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: layout.debug, toPath: folder + "/" + buildID.dropFirst(2) + ".debug")

        let (table, cache) = try table(layout.stripped, debugDirectories: [layout.debugDirectory], originalDirectory: nil)
        #expect(try namesHiddenFunction(table))
        #expect(table?.isDynamicOnly == false)
        #expect(table?.fileID == stripped.fileID, "the identity is the mapped file's, not the debug file's")
        #expect(cache.debugFiles.found == 1)
    }

    @Test func theDebugFileIsFoundByDebugLinkBesideTheFile() throws {
        let layout = try layout("link")
        try Fixtures.run("/usr/bin/objcopy", ["--add-gnu-debuglink=" + layout.debug, layout.stripped])
        let (table, cache) = try table(layout.stripped, debugDirectories: [layout.debugDirectory], originalDirectory: layout.directory)
        #expect(try namesHiddenFunction(table))
        #expect(cache.debugFiles.found == 1)
    }

    @Test func aDebugFileOfAnotherBuildIsRefusedAndCounted() throws {
        let layout = try layout("mismatch")
        try Fixtures.run("/usr/bin/objcopy", ["--add-gnu-debuglink=" + layout.debug, layout.stripped])
        // Same name, other contents: its CRC no longer matches the link's.
        let built = try Fixtures.built.get()
        try FileManager.default.removeItem(atPath: layout.debug)
        try Fixtures.run("/usr/bin/objcopy", ["--only-keep-debug", built.pie, layout.debug])
        let (table, cache) = try table(layout.stripped, debugDirectories: [layout.debugDirectory], originalDirectory: layout.directory)
        #expect(try !namesHiddenFunction(table))
        #expect(cache.debugFiles.rejected >= 1)
        #expect(cache.debugFiles.found == 0)
    }

    /// Debian's glibc is stripped to `.dynsym`; `libc6-dbg` installs its debug file by build id.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/lib/debug/.build-id"), "no /usr/lib/debug/.build-id (libc6-dbg)"))
    func glibcsInternalFunctionsAreNamedFromLibc6Dbg() throws {
        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        let exports = try SymbolTable.load(path: libc)
        try #require(exports.isDynamicOnly, "this libc is not stripped: nothing to test")
        let (found, cache) = try table(libc, debugDirectories: ["/usr/lib/debug"], originalDirectory: "/lib/x86_64-linux-gnu")
        let table = try #require(found)
        #expect(cache.debugFiles.found == 1)
        #expect(table.symbolCount > exports.symbolCount)
        #expect((0..<table.symbolCount).contains { table.rawName($0)?.hasPrefix("msort_with_tmp") == true })
    }
}
