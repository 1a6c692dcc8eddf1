/// A `DW_EH_PE_*` pointer encoding from an `.eh_frame` augmentation: how an address is stored
/// (the low nibble) and what it is relative to (bits 4–6), with 0x80 meaning "the value is the
/// address of the pointer". 0xff means "omitted".
struct PointerEncoding: Equatable {
    let rawValue: UInt8

    static let absolute = PointerEncoding(rawValue: 0x00)
    static let omit = PointerEncoding(rawValue: 0xff)

    var isOmitted: Bool { rawValue == 0xff }
    var isIndirect: Bool { rawValue & 0x80 != 0 }
    /// The application bits: 0 absolute, 0x10 pc-relative, 0x20 text-relative, 0x30 data-relative,
    /// 0x40 function-relative, 0x50 aligned.
    var application: UInt8 { rawValue & 0x70 }
    var format: UInt8 { rawValue & 0x0f }

    /// True for formats we can read; `DW_EH_PE_aligned` and the reserved nibbles are not.
    var isReadable: Bool {
        if isOmitted { return true }
        switch format {
        case 0x00, 0x01, 0x02, 0x03, 0x04, 0x09, 0x0a, 0x0b, 0x0c: break
        default: return false
        }
        return application <= 0x40
    }
}

/// The base addresses an encoded pointer may be relative to.
struct PointerBases {
    /// The section's virtual address: `DW_EH_PE_pcrel` adds the address of the encoded field.
    var sectionAddress: UInt64
    var textBase: UInt64?
    var dataBase: UInt64?
}

extension ByteCursor {
    /// The raw value of an encoded pointer (no base applied), sign-extended for the signed forms.
    /// Absolute pointers are 8 bytes: we only read x86-64 (ELFCLASS64) files.
    mutating func readEncodedValue(_ encoding: PointerEncoding) throws(CFISkipReason) -> UInt64 {
        switch encoding.format {
        case 0x00, 0x04, 0x0c: return try readUInt64()
        case 0x01: return try readULEB128()
        case 0x02: return UInt64(try readUInt16())
        case 0x03: return UInt64(try readUInt32())
        case 0x09: return UInt64(bitPattern: try readSLEB128())
        case 0x0a: return UInt64(bitPattern: Int64(Int16(bitPattern: try readUInt16())))
        case 0x0b: return UInt64(bitPattern: Int64(Int32(bitPattern: try readUInt32())))
        default: throw .unsupportedPointerEncoding
        }
    }

    /// An address stored with `encoding`, with its base applied. Address arithmetic wraps
    /// (addresses are modulo 2^64, and a pc-relative sdata4 is routinely negative).
    mutating func readEncodedAddress(_ encoding: PointerEncoding, bases: PointerBases) throws(CFISkipReason) -> UInt64 {
        guard encoding.isReadable, !encoding.isOmitted, !encoding.isIndirect else { throw .unsupportedPointerEncoding }
        let fieldAddress = bases.sectionAddress &+ UInt64(offset)
        let value = try readEncodedValue(encoding)
        switch encoding.application {
        case 0x00: return value
        case 0x10: return fieldAddress &+ value
        case 0x20:
            guard let base = bases.textBase else { throw .unsupportedPointerEncoding }
            return base &+ value
        case 0x30:
            guard let base = bases.dataBase else { throw .unsupportedPointerEncoding }
            return base &+ value
        default: throw .unsupportedPointerEncoding
        }
    }

    /// Skips an encoded pointer whose value we do not need (a personality routine, an LSDA).
    mutating func skipEncodedValue(_ encoding: PointerEncoding) throws(CFISkipReason) {
        guard !encoding.isOmitted else { return }
        guard encoding.isReadable else { throw .unsupportedPointerEncoding }
        _ = try readEncodedValue(encoding)
    }
}
