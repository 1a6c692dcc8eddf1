/// Writes protocol-buffer wire format (varints and length-delimited fields), enough for
/// profile.proto. Fields are written in the order called; proto3 omits zero scalars, and so does
/// this writer (`varint` of 0 writes nothing) except where a caller asks for packed values.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    /// A varint field (wire type 0); 0 is the default and is left out.
    mutating func varint(_ field: UInt32, _ value: UInt64) {
        guard value != 0 else { return }
        key(field, wireType: 0)
        appendVarint(value)
    }

    mutating func varint(_ field: UInt32, _ value: Int64) { varint(field, UInt64(bitPattern: value)) }

    mutating func bool(_ field: UInt32, _ value: Bool) { varint(field, value ? UInt64(1) : 0) }

    /// A fixed64 field (wire type 1, little-endian); 0 is left out.
    mutating func fixed64(_ field: UInt32, _ value: UInt64) {
        guard value != 0 else { return }
        key(field, wireType: 1)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A length-delimited field (wire type 2) holding `data`.
    mutating func bytes(_ field: UInt32, _ data: some Collection<UInt8>) {
        key(field, wireType: 2)
        appendVarint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    mutating func string(_ field: UInt32, _ text: String) { bytes(field, text.utf8) }

    /// A nested message, written by `body` into a writer of its own.
    mutating func message(_ field: UInt32, _ body: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        body(&nested)
        bytes(field, nested.bytes)
    }

    /// A packed repeated varint field; nothing when `values` is empty.
    mutating func packed(_ field: UInt32, _ values: some Collection<UInt64>) {
        guard !values.isEmpty else { return }
        var packed = ProtobufWriter()
        for value in values { packed.appendVarint(value) }
        bytes(field, packed.bytes)
    }

    private mutating func key(_ field: UInt32, wireType: UInt8) {
        appendVarint(UInt64(field) << 3 | UInt64(wireType))
    }

    private mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}
