internal import CSystemLibraries

#if canImport(Glibc)
import Glibc
#endif

/// Notes and links: the GNU build id, and the `.gnu_debuglink` that names a separate debug file.
extension ELFFile {
    func buildID(_ notes: [OpaquePointer]) -> String? {
        for section in notes {
            guard let data = try? boundedData(section), let bytes = data.pointee.d_buf else { continue }
            var offset = 0
            while true {
                var note = GElf_Nhdr()
                var nameOffset = 0
                var descriptorOffset = 0
                let next = gelf_getnote(data, offset, &note, &nameOffset, &descriptorOffset)
                if next == 0 { break }
                offset = next
                guard note.n_type == 3 /* NT_GNU_BUILD_ID */, note.n_namesz == 4,
                    nameOffset >= 0, nameOffset <= data.pointee.d_size - 4,
                    descriptorOffset >= 0, descriptorOffset <= data.pointee.d_size,
                    Int(note.n_descsz) <= data.pointee.d_size - descriptorOffset
                else { continue }
                let name = String(decoding: UnsafeRawBufferPointer(start: bytes + nameOffset, count: 3), as: UTF8.self)
                guard name == "GNU" else { continue }
                let descriptor = UnsafeRawBufferPointer(start: bytes + descriptorOffset, count: Int(note.n_descsz))
                return descriptor.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            }
        }
        return nil
    }

    /// `.gnu_debuglink`: the debug file's name (no directory) and the CRC-32 of its contents.
    func debugLink(_ sections: Sections) -> (name: String, crc: UInt32)? {
        guard let section = sections.debugLink, let (bytes, _) = (try? contents(of: section)) ?? nil else { return nil }
        // The name, NUL-terminated, padded to 4 bytes, then the CRC in the file's byte order
        // (little-endian on x86-64).
        guard let end = bytes.firstIndex(of: 0), end > 0, end <= 255 else { return nil }
        let crcOffset = (end + 4) & ~3
        guard crcOffset + 4 <= bytes.count else { return nil }
        let name = String(decoding: bytes[..<end], as: UTF8.self)
        // A name, not a path: a link may not point out of the directories it is looked up in.
        guard !name.contains("/"), name != ".", name != ".." else { return nil }
        let crc = bytes[crcOffset..<crcOffset + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (name, crc)
    }
}
