/// A parsed CIE: what its FDEs share. Its initial instructions are run once, here, and the
/// resulting state kept, so a CIE shared by thousands of FDEs costs its length once.
struct CommonInformationEntry {
    let codeAlignment: UInt64
    let dataAlignment: Int64
    let returnAddressRegister: UInt64
    /// How FDEs of this CIE store `pc_begin` (eh_frame 'R'; absolute of the address size otherwise).
    let addressEncoding: PointerEncoding
    /// True when FDEs carry augmentation data (the augmentation string starts with 'z').
    let hasAugmentationData: Bool
    /// 'S' in the augmentation: FDEs of this CIE describe signal trampolines.
    let isSignalFrame: Bool
    /// The rules after the initial instructions.
    let initialState: FrameState

    init(entry: CFIEntry, format: CFISection.Format, bases: PointerBases, limits: UnwindTableLimits, stack: inout [FrameState]) throws(CFISkipReason) {
        var cursor = entry.body
        let version = try cursor.readUInt8()
        switch (format, version) {
        case (.ehFrame, 1), (.ehFrame, 3), (.debugFrame, 1), (.debugFrame, 3), (.debugFrame, 4): break
        default: throw .unsupportedVersion
        }
        let augmentation = try cursor.readCString()
        var addressEncoding = PointerEncoding(rawValue: 0x04)  // udata8: absolute 8-byte addresses
        if version >= 4 {
            let addressSize = try cursor.readUInt8()
            let segmentSelectorSize = try cursor.readUInt8()
            guard segmentSelectorSize == 0, addressSize == 8 || addressSize == 4 else { throw .unsupportedAugmentation }
            addressEncoding = PointerEncoding(rawValue: addressSize == 8 ? 0x04 : 0x03)
        }
        codeAlignment = try cursor.readULEB128()
        dataAlignment = try cursor.readSLEB128()
        returnAddressRegister = version == 1 ? UInt64(try cursor.readUInt8()) : try cursor.readULEB128()
        // RBP as the return-address column would make the two rules we follow one.
        guard returnAddressRegister != DWARFRegister.rbp else { throw .unsupportedAugmentation }

        var isSignalFrame = false
        let characters = UnsafeRawBufferPointer(rebasing: entry.body.bytes[augmentation])
        hasAugmentationData = characters.first == UInt8(ascii: "z")
        if hasAugmentationData {
            var data = try cursor.subCursor(length: cursor.readULEB128())
            for character in characters.dropFirst() {
                switch character {
                case UInt8(ascii: "R"): addressEncoding = PointerEncoding(rawValue: try data.readUInt8())
                case UInt8(ascii: "L"): _ = try data.readUInt8()  // the LSDA encoding; FDEs skip it by length
                case UInt8(ascii: "P"): try data.skipEncodedValue(PointerEncoding(rawValue: try data.readUInt8()))
                case UInt8(ascii: "S"): isSignalFrame = true
                case UInt8(ascii: "B"), UInt8(ascii: "G"): break  // AArch64 pointer auth / MTE: no data
                default: throw .unsupportedAugmentation  // unknown data size: 'R' may hide behind it
                }
            }
        } else if !characters.isEmpty {
            throw .unsupportedAugmentation
        }
        guard addressEncoding.isReadable, !addressEncoding.isOmitted, !addressEncoding.isIndirect else {
            throw .unsupportedPointerEncoding
        }
        self.addressEncoding = addressEncoding
        self.isSignalFrame = isSignalFrame

        var state = FrameState()
        let program = CallFrameProgram(
            codeAlignment: codeAlignment, dataAlignment: dataAlignment, returnAddressRegister: returnAddressRegister,
            addressEncoding: addressEncoding, bases: bases, maximumRememberedStates: limits.maximumRememberedStates
        )
        // A CIE has no address range: its rows (if it advanced at all) are not kept.
        try program.run(cursor, state: &state, initial: FrameState(), location: 0, end: .max, stack: &stack) { _, _ in }
        initialState = state
    }

    /// The program that runs this CIE's FDEs' instructions.
    func program(bases: PointerBases, limits: UnwindTableLimits) -> CallFrameProgram {
        CallFrameProgram(
            codeAlignment: codeAlignment, dataAlignment: dataAlignment, returnAddressRegister: returnAddressRegister,
            addressEncoding: addressEncoding, bases: bases, maximumRememberedStates: limits.maximumRememberedStates
        )
    }
}
