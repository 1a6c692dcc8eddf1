import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The kernel's function symbols from `/proc/kallsyms` (modules' included, named `name [module]`),
/// sorted once by address. Addresses all zero (kptr_restrict without privileges) make the table
/// empty and `isAvailable` false: kernel frames then keep their addresses.
public final class KernelSymbols: Sendable {
    private let starts: [UInt64]
    private let nameOffsets: [UInt32]
    private let names: [UInt8]
    /// A digest of `/proc/modules` when the table was read: a module loaded or removed since
    /// changes it, and `isStale` says so.
    private let modulesDigest: Int

    /// Reads the text symbols (types `t`, `T`, `w`, `W`) of `kallsyms` and a digest of `modules`.
    /// An unreadable file, or addresses all zero, give an empty table; nothing throws.
    public init(kallsyms: String = "/proc/kallsyms", modules: String = "/proc/modules") {
        // Parsed as bytes: 120k lines through String.split take half a second; this takes ~20 ms.
        var entries: [(address: UInt64, nameStart: Int, nameEnd: Int)] = []
        let bytes = FileContents.bytes(kallsyms) ?? []
        entries.reserveCapacity(bytes.count / 40)
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 10 { lineEnd += 1 }
            // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t foo\t[module]"
            var address: UInt64 = 0
            var i = lineStart
            var valid = true
            while i < lineEnd && bytes[i] != 32 {
                guard let digit = Self.hexDigit(bytes[i]) else { valid = false; break }
                address = address << 4 | digit
                i += 1
            }
            if valid, address != 0, i + 3 < lineEnd, [UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "w"), UInt8(ascii: "W")].contains(bytes[i + 1]),
                bytes[i + 2] == 32
            {
                entries.append((address, i + 3, lineEnd))
            }
            lineStart = lineEnd + 1
        }
        entries.sort { $0.address < $1.address }
        var starts: [UInt64] = []
        var nameOffsets: [UInt32] = []
        var names: [UInt8] = []
        starts.reserveCapacity(entries.count)
        nameOffsets.reserveCapacity(entries.count)
        for entry in entries where starts.last != entry.address {
            starts.append(entry.address)
            nameOffsets.append(UInt32(names.count))
            // "name\t[module]" → "name [module]"
            for byte in bytes[entry.nameStart..<entry.nameEnd] { names.append(byte == 9 ? 32 : byte) }
            names.append(0)
        }
        self.starts = starts
        self.nameOffsets = nameOffsets
        self.names = names
        modulesDigest = FileContents.text(modules)?.hashValue ?? 0
    }

    private static func hexDigit(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte - UInt8(ascii: "a") + 10)
        default: nil
        }
    }

    /// False when kallsyms gave no addresses (unreadable, or all zero under `kptr_restrict`).
    public var isAvailable: Bool { !starts.isEmpty }
    /// Function symbols in the table (one per address).
    public var symbolCount: Int { starts.count }
    /// Memory held, in bytes: 12 a symbol plus the names.
    public var byteCount: Int { starts.count * 12 + names.count }

    /// Whether modules changed since the table was read (then read a new one).
    public var isStale: Bool { (FileContents.text("/proc/modules")?.hashValue ?? 0) != modulesDigest }

    /// The name of the function containing `address`, or nil outside the kernel's text.
    public func name(containing address: UInt64) -> String? {
        guard let index = starts.lastIndex(atOrBelow: address) else { return nil }
        let start = Int(nameOffsets[index])
        var end = start
        while names[end] != 0 { end += 1 }
        return String(decoding: names[start..<end], as: UTF8.self)
    }
}
