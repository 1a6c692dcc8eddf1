/// Why a CIE or FDE contributed no rows. Malformed entries are skipped and counted by reason
/// (`UnwindTableStatistics.skippedEntries`); a bad entry never ends the build with a trap.
public enum CFISkipReason: String, Error, Sendable, Hashable, CaseIterable {
    /// A read ran past the end of the entry.
    case truncated
    /// An entry's length runs past the section's end or is a reserved value. The scan of that
    /// section ends here: without a length, the next entry cannot be found.
    case lengthOutOfBounds
    /// A number does not fit: LEB128 over 64 bits, a factored offset that overflows.
    case numberOverflow
    /// An FDE's CIE pointer is outside the section or does not point at a usable CIE.
    case badCIEPointer
    /// A CIE version this parser does not know (eh_frame: 1, 3; debug_frame: 1, 3, 4).
    case unsupportedVersion
    /// An augmentation string we cannot skip safely (not starting with 'z', e.g. the old "eh"),
    /// or a segment selector / address size other than 0 / 8 or 4.
    case unsupportedAugmentation
    /// A `DW_EH_PE_*` encoding we cannot resolve (aligned, indirect addresses, a missing base).
    case unsupportedPointerEncoding
    /// An unknown `DW_CFA_*` opcode, `restore_state` with nothing remembered, or `set_loc` backwards.
    case badInstruction
    /// More nested `DW_CFA_remember_state` than `UnwindTableLimits.maximumRememberedStates`.
    case stateStackTooDeep
    /// An FDE whose address range or a row location wraps around 2^64.
    case addressOverflow
}
