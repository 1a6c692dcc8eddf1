import Foundation
@testable import Symbolization
import Testing

/// `.gnu_debugdata`, made as Fedora's packaging makes it (gcc -O2, then the mini symbol table
/// of find-debuginfo: the functions `.dynsym` lacks, from `--only-keep-debug`, compressed with xz
/// and added to the stripped file): a stripped file's static functions are named from it, beside
/// its exports; a corrupt section or a decompression bomb is refused, counted, and the file keeps
/// its `.dynsym` names.
@Suite struct DebugDataTests {
    /// One library, stripped, with sections of each kind added to copies of it.
    struct Layout {
        let directory: String
        /// Built, not stripped: where `nm` finds the addresses.
        var library: String { directory + "/libmini.so" }
        /// Stripped to `.dynsym`, no `.gnu_debugdata`.
        var stripped: String { directory + "/stripped.so" }
        /// The mini table, compressed.
        var miniXZ: String { directory + "/mini.xz" }
        var withDebugData: String { directory + "/with-debugdata.so" }
        var withCorruptDebugData: String { directory + "/with-corrupt-debugdata.so" }
        /// 200 MiB of zeros, 30 KiB compressed.
        var withBomb: String { directory + "/with-bomb.so" }
        /// The bomb, then the real mini table: the footer and index at the end are the small one's.
        var withHiddenBomb: String { directory + "/with-hidden-bomb.so" }
        /// Where no debug file is installed: the lookup goes past the separate debug file.
        var emptyDebugDirectory: String { directory + "/debugroot" }
    }

    static let source = """
        #include <stdint.h>
        /* Static and called, as packagers' builds leave local functions. noclone: gcc -O2 would
           name a constant-propagated copy th_mini_local.constprop.0. */
        __attribute__((noinline, noclone)) static uint64_t th_mini_local(uint64_t x) {
            for (int i = 0; i < 100; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
            return x;
        }
        uint64_t th_mini_exported(uint64_t x) { return th_mini_local(x) ^ th_mini_local(x + 1); }
        """

    /// find-debuginfo's steps for the mini table, then the variants. The bomb is compressed with
    /// `xz -1`: `-9` makes the same 30 KiB from zeros but its compressor takes 600 MiB.
    static let script = """
        set -eu
        export LC_ALL=C
        cd "$1"
        gcc -O2 -g -shared -fPIC -Wl,--build-id -o libmini.so mini.c
        nm -D libmini.so --format=posix --defined-only | awk '{print $1}' | sort > dynsyms
        nm libmini.so --format=posix --defined-only | awk '$2 ~ /[Tt]/ {print $1}' | sort > funcsyms
        comm -13 dynsyms funcsyms > keep
        objcopy --only-keep-debug libmini.so libmini.so.dbg
        objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=keep libmini.so.dbg mini
        xz --keep --force mini
        strip --strip-all -o stripped.so libmini.so
        objcopy --add-section .gnu_debugdata=mini.xz stripped.so with-debugdata.so
        head -c 200M /dev/zero | xz -1 > bomb.xz
        objcopy --add-section .gnu_debugdata=bomb.xz stripped.so with-bomb.so
        cat bomb.xz mini.xz > hidden-bomb.xz
        objcopy --add-section .gnu_debugdata=hidden-bomb.xz stripped.so with-hidden-bomb.so
        mkdir -p debugroot
        """

    /// Built once per test process.
    static let built: Result<Layout, Error> = Result {
        let base = try Fixtures.built.get().directory
        let layout = Layout(directory: base.appendingPathComponent("debugdata").path)
        try? FileManager.default.removeItem(atPath: layout.directory)
        try FileManager.default.createDirectory(atPath: layout.directory, withIntermediateDirectories: true)
        try source.write(toFile: layout.directory + "/mini.c", atomically: true, encoding: .utf8)
        try Fixtures.run("/bin/sh", ["-c", script, "sh", layout.directory])

        // Bytes flipped in the middle of the compressed data: the stream's CRC or the LZMA data no
        // longer holds.
        var corrupt = try Data(contentsOf: URL(fileURLWithPath: layout.miniXZ))
        for offset in corrupt.count / 2..<corrupt.count / 2 + 4 { corrupt[offset] ^= 0xA5 }
        try corrupt.write(to: URL(fileURLWithPath: layout.directory + "/corrupt.xz"))
        try Fixtures.run("/usr/bin/objcopy", [
            "--add-section", ".gnu_debugdata=" + layout.directory + "/corrupt.xz", layout.stripped, layout.withCorruptDebugData,
        ])
        return layout
    }

    private func table(_ path: String) throws -> (SymbolTable?, SymbolTableCache) {
        let layout = try Self.built.get()
        let cache = SymbolTableCache(byteLimit: 64 << 20, debugDirectories: [layout.emptyDebugDirectory])
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        return (cache.table(fd: fd, path: path, originalDirectory: layout.directory), cache)
    }

    /// The name `table` gives the function `name` of the built library (found by `nm` there).
    private func name(of function: String, in table: SymbolTable?) throws -> String? {
        let address = try #require(try Fixtures.nm(Self.built.get().library)[function])
        guard let table, let index = table.symbolIndex(containing: address + 1) else { return nil }
        return table.rawName(index)
    }

    @Test func theMiniTableKeepsOnlyTheLocalFunction() throws {
        let keep = try String(contentsOfFile: Self.built.get().directory + "/keep", encoding: .utf8)
        #expect(keep.split(separator: "\n").contains("th_mini_local"))
        #expect(!keep.contains("th_mini_exported"), "exported functions are left to .dynsym")
    }

    @Test func withoutGnuDebugdataTheStrippedFileDoesNotNameTheStaticFunction() throws {
        let (table, cache) = try table(Self.built.get().stripped)
        #expect(try name(of: "th_mini_local", in: table) != "th_mini_local")
        #expect(try name(of: "th_mini_exported", in: table) == "th_mini_exported")
        #expect(table?.isDynamicOnly == true)
        #expect(cache.miniDebugInfo.used == 0)
    }

    @Test func theStaticFunctionIsNamedFromGnuDebugdataAndExportsStillAre() throws {
        let layout = try Self.built.get()
        let (table, cache) = try table(layout.withDebugData)
        #expect(try name(of: "th_mini_local", in: table) == "th_mini_local")
        #expect(try name(of: "th_mini_exported", in: table) == "th_mini_exported")
        #expect(table?.isDynamicOnly == false)
        #expect(table?.fileID == (try FileIdentity.of(path: layout.withDebugData)), "the identity is the mapped file's")
        #expect((cache.miniDebugInfo.used, cache.miniDebugInfo.overLimit, cache.miniDebugInfo.corrupt) == (1, 0, 0))
        #expect(cache.debugFiles.found == 0)
    }

    @Test func aCorruptStreamIsCountedAndTheExportsAreStillNamed() throws {
        let (table, cache) = try table(Self.built.get().withCorruptDebugData)
        #expect(try name(of: "th_mini_exported", in: table) == "th_mini_exported")
        #expect(try name(of: "th_mini_local", in: table) != "th_mini_local")
        #expect((cache.miniDebugInfo.used, cache.miniDebugInfo.overLimit, cache.miniDebugInfo.corrupt) == (0, 0, 1))
    }

    /// Refused from the index at the stream's end, before the 200 MiB are allocated or decoded:
    /// the refusal names the size only the index gives.
    @Test func aDecompressionBombIsRefusedFromItsIndexAndCounted() throws {
        let layout = try Self.built.get()
        let (table, cache) = try table(layout.withBomb)
        #expect(try name(of: "th_mini_exported", in: table) == "th_mini_exported")
        #expect((cache.miniDebugInfo.used, cache.miniDebugInfo.overLimit, cache.miniDebugInfo.corrupt) == (0, 1, 0))

        let file = try ELFFile(path: layout.withBomb)
        let section = try #require(try file.sections().debugData)
        #expect(throws: XZDecoder.Failure.overLimit("the index claims 209715200 decoded bytes (at most \(MiniDebugInfo.maximumDecodedBytes))")) {
            _ = try MiniDebugInfo.read(section, of: file)
        }
    }

    /// A bomb in front of a small stream: the index at the end describes only the small one, so
    /// the section is refused as not one stream rather than decoded.
    @Test func aBombInFrontOfASmallStreamIsRefused() throws {
        let layout = try Self.built.get()
        let (table, cache) = try table(layout.withHiddenBomb)
        #expect(try name(of: "th_mini_exported", in: table) == "th_mini_exported")
        #expect((cache.miniDebugInfo.used, cache.miniDebugInfo.overLimit, cache.miniDebugInfo.corrupt) == (0, 0, 1))

        let file = try ELFFile(path: layout.withHiddenBomb)
        let section = try #require(try file.sections().debugData)
        #expect(throws: XZDecoder.Failure.corrupt("not a single xz stream")) { _ = try MiniDebugInfo.read(section, of: file) }
    }

    /// The decoder's own limits, on the real mini table: each refusal is `overLimit`, and within
    /// them the image is an ELF file the reader opens in memory.
    @Test func theDecoderKeepsToItsLimits() throws {
        let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.built.get().miniXZ)))
        let limits = MiniDebugInfo.limits
        func decode(_ limits: XZDecoder.Limits) throws -> ELFImage {
            try compressed.withUnsafeBytes { bytes in try XZDecoder.decode(bytes, limits: limits) }
        }
        let image = try decode(limits)
        let mini = try ELFFile(image: image, path: "mini")
        #expect(try mini.sections().symtab != nil)
        #expect(mini.fd == nil)

        var smallOutput = limits
        smallOutput.outputBytes = image.count - 1
        #expect(throws: XZDecoder.Failure.overLimit("the index claims \(image.count) decoded bytes (at most \(image.count - 1))")) {
            _ = try decode(smallOutput)
        }
        var smallDecoder = limits
        smallDecoder.decoderBytes = 4096
        #expect {
            _ = try decode(smallDecoder)
        } throws: { error in
            if case .overLimit(let reason) = error as? XZDecoder.Failure { reason.hasPrefix("decoding needs") } else { false }
        }
        var smallIndex = limits
        smallIndex.indexBytes = 16
        #expect {
            _ = try decode(smallIndex)
        } throws: { error in
            if case .overLimit(let reason) = error as? XZDecoder.Failure { reason.hasPrefix("an index needing") } else { false }
        }
    }

    @Test func streamsThatAreNoXZAreCorrupt() throws {
        for bytes in [[UInt8](), [UInt8](repeating: 0, count: 24), Array("not an xz stream, only text".utf8)] {
            #expect {
                _ = try bytes.withUnsafeBytes { bytes in try XZDecoder.decode(bytes, limits: MiniDebugInfo.limits) }
            } throws: { error in
                if case .corrupt = error as? XZDecoder.Failure { true } else { false }
            }
        }
    }
}

extension DebugDataTests {
    /// What a stream may decode to is anyone's choice: bytes that are no ELF file are an error
    /// of the same reader that reads files.
    @Test func anImageThatIsNoELFFileIsAnError() throws {
        let text = Array("an xz stream may hold anything".utf8)
        let image = ELFImage(count: text.count)
        image.withUnsafeMutableBytes { $0.copyBytes(from: text) }
        #expect(throws: SymbolizationError.self) { _ = try ELFFile(image: image, path: "text") }
    }
}
