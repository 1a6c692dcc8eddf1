@testable import Unwinding

/// Writes CFI sections byte by byte for tests that need shapes compilers rarely emit.
struct CFIAssembler {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func uleb(_ value: UInt64) {
        var value = value
        repeat {
            var byte = UInt8(value & 0x7f)
            value >>= 7
            if value != 0 { byte |= 0x80 }
            bytes.append(byte)
        } while value != 0
    }
    mutating func sleb(_ value: Int64) {
        var value = value
        while true {
            let byte = UInt8(truncatingIfNeeded: value) & 0x7f
            value >>= 7
            if (value == 0 && byte & 0x40 == 0) || (value == -1 && byte & 0x40 != 0) {
                bytes.append(byte)
                return
            }
            bytes.append(byte | 0x80)
        }
    }
    mutating func string(_ text: String) { bytes += Array(text.utf8) + [0] }

    /// Appends an entry: a 32-bit length (or the 64-bit escape), then `body`. Returns its offset.
    @discardableResult
    mutating func entry(is64Bit: Bool = false, _ body: (inout CFIAssembler) -> Void) -> Int {
        let offset = bytes.count
        var inner = CFIAssembler()
        body(&inner)
        if is64Bit {
            u32(0xffff_ffff)
            u64(UInt64(inner.bytes.count))
        } else {
            u32(UInt32(inner.bytes.count))
        }
        bytes += inner.bytes
        return offset
    }

    /// The x86-64 gcc CIE in `.eh_frame`: "zR", pc-relative sdata4 addresses, CFA = RSP + 8,
    /// RA at CFA − 8, then `extra` initial instructions. Returns its offset.
    @discardableResult
    mutating func standardCIE(augmentation: String = "zR", extra: [UInt8] = []) -> Int {
        entry { cie in
            cie.u32(0)  // CIE id
            cie.u8(1)  // version
            cie.string(augmentation)
            cie.uleb(1)  // code alignment
            cie.sleb(-8)  // data alignment
            cie.u8(16)  // return address column
            cie.uleb(1)
            cie.u8(0x1b)  // DW_EH_PE_pcrel | sdata4
            cie.bytes += [0x0c, 7, 8, 0x90, 1] + extra  // def_cfa rsp 8; offset rip cfa-8
        }
    }

    /// An `.eh_frame` FDE for [start, start + length) at section address `sectionAddress`,
    /// pointing back at the CIE at `cie`.
    mutating func ehFDE(cie: Int, start: UInt64, length: UInt32, sectionAddress: UInt64, instructions: [UInt8]) {
        let offset = bytes.count
        entry { fde in
            fde.u32(UInt32(offset + 4 - cie))  // CIE pointer: back from this field
            let field = sectionAddress + UInt64(offset + 8)
            fde.u32(UInt32(truncatingIfNeeded: Int64(bitPattern: start &- field)))
            fde.u32(length)
            fde.uleb(0)  // augmentation data length
            fde.bytes += instructions
        }
    }

    /// Builds a table from these bytes as one `.eh_frame` (or `.debug_frame`) section.
    func table(at address: UInt64 = 0x1000, format: CFISection.Format = .ehFrame, limits: UnwindTableLimits = UnwindTableLimits()) throws -> UnwindTable {
        try bytes.withUnsafeBytes { bytes in
            let section = CFISection(bytes: bytes, virtualAddress: address, format: format)
            return format == .ehFrame ? try UnwindTable(ehFrame: section, limits: limits) : try UnwindTable(ehFrame: nil, debugFrame: section, limits: limits)
        }
    }
}

extension UnwindTable {
    /// Rows strictly ascending, no two neighbours equal, no leading noRule row.
    func checkInvariants() -> Bool {
        for index in 0 ..< rowCount {
            if index == 0, row(0).rule == .noRule { return false }
            if index > 0, row(index).start <= row(index - 1).start || row(index).rule == row(index - 1).rule { return false }
        }
        return true
    }
}
