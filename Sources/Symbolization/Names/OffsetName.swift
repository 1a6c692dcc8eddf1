/// `prefix+0xhex`: the name of a frame nothing could name (`libfoo.so+0x1a2b`, `[exited]+0x…`),
/// made in one allocation. Stripped code gives one such name a frame, so building it from parts
/// (the module's name, "+0x", `String(radix:)`, each a string of its own) was most of what
/// symbolizing it cost.
enum OffsetName {
    /// `prefix`, "+0x", then `value` in lowercase hex without leading zeros.
    static func make(_ prefix: some Collection<UInt8>, _ value: UInt64) -> String {
        let digits = max(1, (64 - value.leadingZeroBitCount + 3) / 4)
        return String(unsafeUninitializedCapacity: prefix.count + 3 + digits) { buffer in
            var end = buffer.initialize(fromContentsOf: prefix)
            for byte in "+0x".utf8 {
                buffer[end] = byte
                end += 1
            }
            for digit in (0..<digits).reversed() {
                let nibble = UInt8(truncatingIfNeeded: value >> UInt64(digit * 4)) & 0xf
                buffer[end] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                end += 1
            }
            return end
        }
    }

    /// `module+0xoffset` for an offset in `mapping`'s file, the module being its path's last
    /// component (`Mapping.moduleName`), read without making it a string of its own.
    static func make(module mapping: Mapping, _ offset: UInt64) -> String {
        let path = mapping.path.utf8
        guard !path.isEmpty else { return make("[anon]".utf8, offset) }
        guard let slash = path.lastIndex(of: UInt8(ascii: "/")) else { return make(path, offset) }
        return make(path[path.index(after: slash)...], offset)
    }
}
