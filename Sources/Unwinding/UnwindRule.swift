/// How to unwind one frame at the addresses a table row covers: where the CFA (the caller's SP)
/// is, where the return address is, and where the caller's RBP is. Eight bytes, so a table row
/// costs 16 with its start address.
public struct UnwindRule: Hashable, Sendable {
    // Storage is packed; `cfa`, `returnAddressOffset` and `savedBP` are the readable view.
    // `tag` holds the CFA kind in bits 0–3 and the RBP kind in bits 4–5. `small` is the
    // return-address offset (Int8 bits) for rules that have one, the PLT threshold for
    // `pltStub`, the reason for `unsupported`. Fields a kind does not use are zero, so equal
    // rules compare equal and merge.
    let cfaOffset: Int32
    let bpOffset: Int16
    let tag: UInt8
    let small: UInt8

    /// How the CFA is found, or why it is not.
    public enum CFA: Equatable, Sendable {
        /// No CFI covers the address (a gap between FDEs, or below the first).
        case noRule
        /// CFA = RSP + offset.
        case spOffset(Int32)
        /// CFA = RBP + offset.
        case bpOffset(Int32)
        /// gcc/ld's `.plt` stubs: CFA = RSP + spOffset + ((PC & 15) >= threshold ? 8 : 0).
        case pltStub(spOffset: Int32, threshold: UInt8)
        /// Stack realignment through RBP (gcc's DRAP): CFA = the 8 bytes at RBP + offset.
        case bpDereference(Int32)
        /// A signal trampoline (its CIE has 'S'): the interrupted registers are in the
        /// `ucontext_t` at SP.
        case signalFrame
        /// The return address is undefined (`_start`, thread entry): the last frame.
        case outermost
        /// CFI exists but says something the walker does not follow.
        case unsupported(UnsupportedRuleReason)
    }

    /// Where the caller's RBP is.
    public enum SavedBP: Equatable, Sendable {
        /// Not saved by this frame: the caller's RBP is the current RBP.
        case unchanged
        /// Saved at CFA + offset.
        case atCFA(Int16)
        /// Saved at RBP + offset (stack realignment saves RBP through the current RBP).
        case atBP(Int16)
    }

    private enum Kind: UInt8 {
        case noRule = 0, spOffset, bpOffset, pltStub, bpDereference, signalFrame, outermost, unsupported
    }

    /// A rule. `returnAddressOffset` (from the CFA) and `savedBP` apply to the four kinds that
    /// compute a CFA; a PLT stub's return address is always at CFA − 8 and RBP unchanged.
    public init(cfa: CFA, returnAddressOffset: Int8 = -8, savedBP: SavedBP = .unchanged) {
        var offset: Int32 = 0
        let kind: Kind
        var small = UInt8(bitPattern: returnAddressOffset)
        var keepsBP = true
        switch cfa {
        case .noRule: kind = .noRule; small = 0; keepsBP = false
        case .spOffset(let value): kind = .spOffset; offset = value
        case .bpOffset(let value): kind = .bpOffset; offset = value
        case .bpDereference(let value): kind = .bpDereference; offset = value
        case .pltStub(let spOffset, let threshold): kind = .pltStub; offset = spOffset; small = threshold; keepsBP = false
        case .signalFrame: kind = .signalFrame; small = 0; keepsBP = false
        case .outermost: kind = .outermost; small = 0; keepsBP = false
        case .unsupported(let reason): kind = .unsupported; small = reason.rawValue; keepsBP = false
        }
        var bpKind: UInt8 = 0
        var bpOffset: Int16 = 0
        if keepsBP {
            switch savedBP {
            case .unchanged: break
            case .atCFA(let value): bpKind = 1; bpOffset = value
            case .atBP(let value): bpKind = 2; bpOffset = value
            }
        }
        self.cfaOffset = offset
        self.bpOffset = bpOffset
        self.tag = kind.rawValue | bpKind << 4
        self.small = small
    }

    /// The rule of an address no CFI covers.
    public static let noRule = UnwindRule(cfa: .noRule)

    /// How this rule finds the CFA.
    public var cfa: CFA {
        switch Kind(rawValue: tag & 0x0f) ?? .noRule {
        case .noRule: return .noRule
        case .spOffset: return .spOffset(cfaOffset)
        case .bpOffset: return .bpOffset(cfaOffset)
        case .pltStub: return .pltStub(spOffset: cfaOffset, threshold: small)
        case .bpDereference: return .bpDereference(cfaOffset)
        case .signalFrame: return .signalFrame
        case .outermost: return .outermost
        case .unsupported: return .unsupported(UnsupportedRuleReason(rawValue: small) ?? .cfaExpression)
        }
    }

    /// The return address's offset from the CFA, for rules that compute a CFA.
    public var returnAddressOffset: Int8? {
        switch Kind(rawValue: tag & 0x0f) ?? .noRule {
        case .spOffset, .bpOffset, .bpDereference: return Int8(bitPattern: small)
        case .pltStub: return -8
        default: return nil
        }
    }

    /// Where the caller's RBP is (`unchanged` for kinds that compute no CFA).
    public var savedBP: SavedBP {
        switch tag >> 4 {
        case 1: return .atCFA(bpOffset)
        case 2: return .atBP(bpOffset)
        default: return .unchanged
        }
    }
}

/// Why a row's rule is `unsupported`: counted per table, so a gap in coverage has a name.
public enum UnsupportedRuleReason: UInt8, Sendable, Hashable, CaseIterable {
    /// CFA = some register other than RSP or RBP + offset (e.g. R10 in a DRAP prologue).
    case cfaRegister
    /// A `DW_CFA_def_cfa_expression` other than the PLT and RBP-dereference shapes.
    case cfaExpression
    /// A CFA offset change after an expression, or no CFA rule at all.
    case cfaMissing
    /// The return address is not at CFA + offset (in a register, an expression, unchanged).
    case returnAddressRule
    /// RBP is saved somewhere we do not follow (another register, an expression, a value).
    case bpRule
    /// An offset does not fit the packed rule (CFA ±2 GiB, RBP ±32 KiB, return address ±128).
    case offsetRange
    /// The table has 65 535 distinct rules already (`UnwindTable`: only crafted CFI has).
    case tooManyRules
}
