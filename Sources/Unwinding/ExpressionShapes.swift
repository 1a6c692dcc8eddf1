/// Recognises the few DWARF expressions compilers emit for x86-64 CFA and RBP rules. Everything
/// else is "other", which the table counts as unsupported. Matching is exact: any extra operation
/// means a different computation, so a near miss is not accepted.
enum ExpressionShapes {
    private static let bregRBP: UInt8 = 0x76       // DW_OP_breg6
    private static let bregRSP: UInt8 = 0x77       // DW_OP_breg7
    private static let bregRIP: UInt8 = 0x80       // DW_OP_breg16
    private static let deref: UInt8 = 0x06
    private static let lit0: UInt8 = 0x30          // DW_OP_lit0 … DW_OP_lit31 = 0x30 … 0x4f
    private static let and: UInt8 = 0x1a
    private static let ge: UInt8 = 0x2a
    private static let shl: UInt8 = 0x24
    private static let plus: UInt8 = 0x22

    /// Classifies a `DW_CFA_def_cfa_expression` block.
    static func cfa(_ block: ByteCursor) -> CFAState {
        if let state = pltStub(block) { return state }
        // DRAP realignment: DW_OP_breg6 (rbp) k; DW_OP_deref → CFA = [RBP + k].
        var cursor = block
        if (try? cursor.readUInt8()) == bregRBP, let offset = try? cursor.readSLEB128(),
           (try? cursor.readUInt8()) == deref, cursor.isAtEnd {
            return .bpDereference(offset: offset)
        }
        return .otherExpression
    }

    /// `DW_OP_breg7 (rsp) k; DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge;
    /// DW_OP_lit3; DW_OP_shl; DW_OP_plus`: CFA = RSP + k + ((RIP & 15) >= N) << 3.
    private static func pltStub(_ block: ByteCursor) -> CFAState? {
        var cursor = block
        guard (try? cursor.readUInt8()) == bregRSP, let spOffset = try? cursor.readSLEB128(),
              (try? cursor.readUInt8()) == bregRIP, (try? cursor.readSLEB128()) == 0,
              (try? cursor.readUInt8()) == lit0 + 15, (try? cursor.readUInt8()) == and,
              let literal = try? cursor.readUInt8(), literal >= lit0, literal <= lit0 + 31,
              (try? cursor.readUInt8()) == ge, (try? cursor.readUInt8()) == lit0 + 3,
              (try? cursor.readUInt8()) == shl, (try? cursor.readUInt8()) == plus, cursor.isAtEnd
        else { return nil }
        return .pltStub(spOffset: spOffset, threshold: literal - lit0)
    }

    /// Classifies a `DW_CFA_expression` block for RBP. The CFA is pushed before the block runs,
    /// so a lone `DW_OP_bregN k` yields the address RBP's saved value is at; gcc's DRAP code saves
    /// RBP at RBP + 0 this way.
    static func savedBP(_ block: ByteCursor) -> ColumnRule {
        var cursor = block
        if (try? cursor.readUInt8()) == bregRBP, let offset = try? cursor.readSLEB128(), cursor.isAtEnd {
            return .savedAtBPOffset(offset)
        }
        return .other
    }
}
