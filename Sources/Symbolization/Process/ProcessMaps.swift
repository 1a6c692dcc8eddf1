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
        var mappings: [Mapping] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let mapping = parseLine(line) { mappings.append(mapping) }
        }
        return mappings
    }

    static func parseLine(_ line: Substring) -> Mapping? {
        // Five space-separated fields, then the path (which may contain spaces) after padding.
        var fields: [Substring] = []
        var rest = line[...]
        for _ in 0..<5 {
            rest = rest.drop(while: { $0 == " " })
            guard let space = rest.firstIndex(of: " ") ?? (rest.isEmpty ? nil : rest.endIndex) else { return nil }
            fields.append(rest[..<space])
            rest = rest[space...]
        }
        let path = rest.drop(while: { $0 == " " })
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16), start < end,
            fields[1].count == 4, let offset = UInt64(fields[2], radix: 16), let inode = UInt64(fields[4])
        else { return nil }
        return Mapping(
            start: start, end: end, isExecutable: fields[1].dropFirst(2).first == "x", fileOffset: offset,
            device: String(fields[3]), inode: inode, path: String(path))
    }
}
