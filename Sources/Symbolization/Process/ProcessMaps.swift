#if canImport(Glibc)
import Glibc  // memchr
#endif

/// One line of `/proc/<pid>/maps`.
public struct Mapping: Hashable, Sendable {
    /// The first address mapped.
    public var start: UInt64
    /// The address after the last one mapped (exclusive).
    public var end: UInt64
    /// The permissions include `x`.
    public var isExecutable: Bool
    /// Offset in the file of the byte mapped at `start`.
    public var fileOffset: UInt64
    /// The file's device as the kernel prints it (`major:minor`, in hex).
    public var device: String
    /// The file's inode; 0 for anonymous memory and pseudo-mappings.
    public var inode: UInt64
    /// The path, `[vdso]`, `[heap]` and the like, or "" for anonymous memory.
    public var path: String

    /// Whether `address` lies in `start ..< end`.
    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }

    /// Backed by a file (not anonymous, not a pseudo-mapping such as `[vdso]`).
    public var isFile: Bool { inode != 0 && path.hasPrefix("/") }

    /// The last path component, as a frame's module name.
    public var moduleName: String {
        if let slash = path.lastIndex(of: "/") { return String(path[path.index(after: slash)...]) }
        return path.isEmpty ? "[anon]" : path
    }
}

/// Parses `/proc/<pid>/maps`: `start-end perms offset dev inode [path]`, one mapping a line.
/// Lines that do not parse are skipped (and counted by the caller through the result size).
public enum ProcessMaps {
    /// The mappings of a whole maps file, in the kernel's order (ascending addresses).
    public static func parse(_ text: String) -> [Mapping] {
        var text = text
        return text.withUTF8 { parse(UnsafeRawBufferPointer($0), executableOnly: false) }
    }

    /// The mappings of a maps file's bytes; with `executableOnly`, only those whose permissions
    /// include `x` (what symbolizing and unwinding look addresses up in). Works on bytes, and
    /// makes strings only for the lines it keeps: a process's maps are read again every
    /// `symbolize.revalidate-after-ms`, on the symbolize workers' path. Lines are found with
    /// `memchr` and read through a pointer, which stays fast in unoptimized builds too (the
    /// sanitizer runs and the fuzzer use them; generic collection algorithms there were an
    /// order of magnitude slower).
    public static func parse(_ bytes: UnsafeRawBufferPointer, executableOnly: Bool) -> [Mapping] {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return [] }
        var mappings: [Mapping] = []
        var line = base
        let end = base + bytes.count
        while line < end {
            let newline = memchr(line, Int32(UInt8(ascii: "\n")), end - line).map { UnsafeRawPointer($0) } ?? end
            if newline > line, let mapping = parseLine(LineCursor(line, count: newline - line), executableOnly: executableOnly) {
                mappings.append(mapping)
            }
            line = newline + 1
        }
        return mappings
    }

    /// One line: `start-end perms offset dev inode [path]`, fields separated by runs of spaces,
    /// the path running to the end of the line (it may contain spaces). Nil when the line does
    /// not parse, or is not executable and `executableOnly`.
    private static func parseLine(_ line: LineCursor, executableOnly: Bool) -> Mapping? {
        var cursor = line
        guard let start = cursor.number(radix: 16, until: UInt8(ascii: "-")), let end = cursor.number(radix: 16, until: space),
            start < end
        else { return nil }
        cursor.skipSpaces()
        guard let permissions = cursor.field(), permissions.count == 4 else { return nil }
        let isExecutable = permissions[2] == UInt8(ascii: "x")
        if executableOnly && !isExecutable { return nil }
        cursor.skipSpaces()
        guard let offset = cursor.number(radix: 16, until: space) else { return nil }
        cursor.skipSpaces()
        guard let device = cursor.field() else { return nil }
        cursor.skipSpaces()
        guard let inode = cursor.number(radix: 10, until: space) else { return nil }
        cursor.skipSpaces()
        return Mapping(
            start: start, end: end, isExecutable: isExecutable, fileOffset: offset,
            device: String(decoding: device, as: UTF8.self), inode: inode, path: String(decoding: cursor.rest, as: UTF8.self))
    }

    private static let space = UInt8(ascii: " ")
}

/// Reads one maps line's fields left to right, through a pointer to its bytes (valid while the
/// caller's buffer is: `ProcessMaps.parse` keeps none past the line).
private struct LineCursor {
    private let bytes: UnsafePointer<UInt8>
    private let count: Int
    private var position = 0

    init(_ line: UnsafeRawPointer, count: Int) {
        // Maps text is bytes (UInt8) wherever it comes from: an array, a string's UTF-8, the fuzzer.
        bytes = line.assumingMemoryBound(to: UInt8.self)
        self.count = count
    }

    var rest: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: bytes + position, count: count - position) }

    mutating func skipSpaces() {
        while position < count && bytes[position] == UInt8(ascii: " ") { position += 1 }
    }

    /// The bytes up to the next space or the end of the line; nil when empty.
    mutating func field() -> UnsafeBufferPointer<UInt8>? {
        let start = position
        while position < count && bytes[position] != UInt8(ascii: " ") { position += 1 }
        return position > start ? UnsafeBufferPointer(start: bytes + start, count: position - start) : nil
    }

    /// Digits up to `terminator` (consumed) or, for a space, the end of the line; nil when there
    /// are none, one is not a digit of `radix`, or the value overflows 64 bits.
    mutating func number(radix: UInt64, until terminator: UInt8) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        while position < count && bytes[position] != terminator {
            guard let digit = Self.digit(bytes[position]), digit < radix else { return nil }
            let (shifted, overflow) = value.multipliedReportingOverflow(by: radix)
            guard !overflow else { return nil }
            let (sum, carry) = shifted.addingReportingOverflow(digit)
            guard !carry else { return nil }
            value = sum
            digits += 1
            position += 1
        }
        guard digits > 0 else { return nil }
        if position < count {
            position += 1  // the terminator
        } else if terminator != UInt8(ascii: " ") {
            return nil
        }
        return value
    }

    private static func digit(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt64(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt64(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
