/// The x86-64 DWARF register numbers the unwinder follows.
enum DWARFRegister {
    static let rbp: UInt64 = 6
    static let rsp: UInt64 = 7
    static let returnAddress: UInt64 = 16
}

/// How the CFA is computed at one point of a function, as the call-frame program left it.
/// Expressions are classified when the instruction is read (not per row), so a long expression
/// repeated over many rows costs its length once.
enum CFAState: Equatable {
    /// CFA = register + offset.
    case register(UInt64, offset: Int64)
    /// gcc/ld's `.plt` expression: CFA = RSP + spOffset + ((PC & 15) >= threshold ? 8 : 0).
    case pltStub(spOffset: Int64, threshold: UInt8)
    /// Stack realignment (DRAP): CFA = the 8 bytes at RBP + offset.
    case bpDereference(offset: Int64)
    /// Any other `DW_CFA_def_cfa_expression`.
    case otherExpression
    /// `DW_CFA_def_cfa_register`/`_offset` after an expression, or no CFA rule at all.
    case invalid
}

/// The rule of one register column (RBP or the return-address column).
enum ColumnRule: Equatable {
    /// Not mentioned, `DW_CFA_same_value`: the caller's value is this frame's value.
    case unchanged
    case undefined
    /// Saved at CFA + offset.
    case offset(Int64)
    /// `DW_CFA_expression` of the form `DW_OP_breg6 k`: saved at RBP + k (stack realignment).
    case savedAtBPOffset(Int64)
    /// Anything else (val_offset, register, other expressions): not followed.
    case other
}

/// The rules a walk needs at one row: the CFA, RBP and the return address.
struct FrameState: Equatable {
    var cfa: CFAState = .invalid
    var bp: ColumnRule = .unchanged
    var returnAddress: ColumnRule = .undefined
}
