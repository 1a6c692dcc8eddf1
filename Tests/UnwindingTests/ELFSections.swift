import Foundation

/// The section headers of a 64-bit little-endian ELF file, enough to hand `.eh_frame` and
/// `.debug_frame` to the table builder. Test-only: the engine reads ELF with libelf.
struct ELFSections {
    struct Section {
        let name: String
        let type: UInt32
        let flags: UInt64
        let address: UInt64
        let offset: UInt64
        let size: UInt64
    }

    let data: [UInt8]
    let sections: [Section]
    /// The highest address a PT_LOAD segment reaches (file virtual addresses).
    let loadEnd: UInt64

    init(path: String) throws {
        data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard data.count >= 64, data[0 ..< 4] == [0x7f, 0x45, 0x4c, 0x46], data[4] == 2, data[5] == 1 else {
            throw TestFailure("\(path) is not a 64-bit little-endian ELF file")
        }
        let headerOffset = Int(Self.read(UInt64.self, data, 0x28))
        let headerSize = Int(Self.read(UInt16.self, data, 0x3a))
        let count = Int(Self.read(UInt16.self, data, 0x3c))
        let namesIndex = Int(Self.read(UInt16.self, data, 0x3e))
        var raw: [(nameOffset: Int, Section)] = []
        for index in 0 ..< count {
            let base = headerOffset + index * headerSize
            raw.append((Int(Self.read(UInt32.self, data, base)), Section(
                name: "",
                type: Self.read(UInt32.self, data, base + 4),
                flags: Self.read(UInt64.self, data, base + 8),
                address: Self.read(UInt64.self, data, base + 16),
                offset: Self.read(UInt64.self, data, base + 24),
                size: Self.read(UInt64.self, data, base + 32)
            )))
        }
        let programHeaders = Int(Self.read(UInt64.self, data, 0x20))
        let programHeaderSize = Int(Self.read(UInt16.self, data, 0x36))
        var loadEnd: UInt64 = 0
        for index in 0 ..< Int(Self.read(UInt16.self, data, 0x38)) {
            let base = programHeaders + index * programHeaderSize
            if Self.read(UInt32.self, data, base) == 1 {  // PT_LOAD
                loadEnd = max(loadEnd, Self.read(UInt64.self, data, base + 16) + Self.read(UInt64.self, data, base + 40))
            }
        }
        self.loadEnd = loadEnd
        let names = raw[namesIndex].1
        let data = self.data
        sections = raw.map { nameOffset, section in
            var end = Int(names.offset) + nameOffset
            while data[end] != 0 { end += 1 }
            let name = String(decoding: data[Int(names.offset) + nameOffset ..< end], as: UTF8.self)
            return Section(name: name, type: section.type, flags: section.flags, address: section.address, offset: section.offset, size: section.size)
        }
    }

    subscript(name: String) -> Section? { sections.first { $0.name == name } }

    /// The bytes of a section that has them in the file (not NOBITS, not compressed).
    func bytes(of name: String) -> (address: UInt64, bytes: [UInt8])? {
        guard let section = self[name], section.type != 8, section.flags & 0x800 == 0 else { return nil }
        return (section.address, Array(data[Int(section.offset) ..< Int(section.offset + section.size)]))
    }

    private static func read<T: FixedWidthInteger>(_: T.Type, _ data: [UInt8], _ offset: Int) -> T {
        data.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
