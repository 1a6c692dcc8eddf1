/// Runs DWARF call-frame instructions (`DW_CFA_*`), following only the columns a walk needs:
/// the CFA, RBP and the return address. Other registers' operands are read and dropped.
/// Every operand is untrusted: a bad one throws a skip reason for the entry, never traps.
struct CallFrameProgram {
    let codeAlignment: UInt64
    let dataAlignment: Int64
    let returnAddressRegister: UInt64
    /// How `DW_CFA_set_loc` stores its address (the FDE encoding, or absolute in `.debug_frame`).
    let addressEncoding: PointerEncoding
    let bases: PointerBases
    let maximumRememberedStates: Int

    /// Runs `instructions` starting from `state` at `location`. `initial` is the state after the
    /// CIE's instructions (what `DW_CFA_restore` returns to). `row(location, state)` is called
    /// before each advance and once at the end, for every location below `end`; the program
    /// stops at the first advance that reaches `end`. `stack` is scratch storage for
    /// `remember_state`, reused across entries so a build allocates it once.
    func run(
        _ instructions: ByteCursor,
        state: inout FrameState,
        initial: FrameState,
        location start: UInt64,
        end: UInt64,
        stack: inout [FrameState],
        row: (UInt64, FrameState) -> Void
    ) throws(CFISkipReason) {
        var cursor = instructions
        var location = start
        stack.removeAll(keepingCapacity: true)

        /// Moves to a later location: emits the row that ends here. False when past the range.
        func advance(to newLocation: UInt64) -> Bool {
            row(location, state)
            location = newLocation
            return newLocation < end
        }
        func advance(by delta: UInt64) throws(CFISkipReason) -> Bool {
            let (scaled, scaleOverflow) = delta.multipliedReportingOverflow(by: codeAlignment)
            let (newLocation, addOverflow) = location.addingReportingOverflow(scaled)
            guard !scaleOverflow, !addOverflow else { throw .addressOverflow }
            return advance(to: newLocation)
        }

        while !cursor.isAtEnd {
            let opcode = try cursor.readUInt8()
            let operand = UInt64(opcode & 0x3f)
            switch opcode >> 6 {
            case 1:  // DW_CFA_advance_loc
                guard try advance(by: operand) else { return }
                continue
            case 2:  // DW_CFA_offset
                set(operand, .offset(try factored(cursor.readULEB128AsInt64())), in: &state)
                continue
            case 3:  // DW_CFA_restore
                restore(operand, in: &state, from: initial)
                continue
            default:
                break
            }
            switch opcode {
            case 0x00:  // DW_CFA_nop
                break
            case 0x01:  // DW_CFA_set_loc
                let newLocation: UInt64
                newLocation = try cursor.readEncodedAddress(addressEncoding, bases: bases)
                guard newLocation >= location else { throw .badInstruction }
                guard advance(to: newLocation) else { return }
            case 0x02:  // DW_CFA_advance_loc1
                guard try advance(by: UInt64(cursor.readUInt8())) else { return }
            case 0x03:  // DW_CFA_advance_loc2
                guard try advance(by: UInt64(cursor.readUInt16())) else { return }
            case 0x04:  // DW_CFA_advance_loc4
                guard try advance(by: UInt64(cursor.readUInt32())) else { return }
            case 0x1d:  // DW_CFA_MIPS_advance_loc8
                guard try advance(by: cursor.readUInt64()) else { return }
            case 0x05:  // DW_CFA_offset_extended
                let register = try cursor.readULEB128()
                set(register, .offset(try factored(cursor.readULEB128AsInt64())), in: &state)
            case 0x06:  // DW_CFA_restore_extended
                restore(try cursor.readULEB128(), in: &state, from: initial)
            case 0x07:  // DW_CFA_undefined
                set(try cursor.readULEB128(), .undefined, in: &state)
            case 0x08:  // DW_CFA_same_value
                set(try cursor.readULEB128(), .unchanged, in: &state)
            case 0x09:  // DW_CFA_register
                let register = try cursor.readULEB128()
                let source = try cursor.readULEB128()
                set(register, source == register ? .unchanged : .other, in: &state)
            case 0x0a:  // DW_CFA_remember_state
                guard stack.count < maximumRememberedStates else { throw .stateStackTooDeep }
                stack.append(state)
            case 0x0b:  // DW_CFA_restore_state
                // The CFA is restored too, as gcc's unwinder and readelf do.
                guard let remembered = stack.popLast() else { throw .badInstruction }
                state = remembered
            case 0x0c:  // DW_CFA_def_cfa
                let register = try cursor.readULEB128()
                state.cfa = .register(register, offset: try cursor.readULEB128AsInt64())
            case 0x0d:  // DW_CFA_def_cfa_register
                let register = try cursor.readULEB128()
                if case .register(_, let offset) = state.cfa {
                    state.cfa = .register(register, offset: offset)
                } else {
                    state.cfa = .invalid
                }
            case 0x0e:  // DW_CFA_def_cfa_offset
                setCFAOffset(try cursor.readULEB128AsInt64(), in: &state)
            case 0x0f:  // DW_CFA_def_cfa_expression
                state.cfa = ExpressionShapes.cfa(try cursor.subCursor(length: cursor.readULEB128()))
            case 0x10:  // DW_CFA_expression
                let register = try cursor.readULEB128()
                let block = try cursor.subCursor(length: cursor.readULEB128())
                set(register, register == DWARFRegister.rbp ? ExpressionShapes.savedBP(block) : .other, in: &state)
            case 0x11:  // DW_CFA_offset_extended_sf
                let register = try cursor.readULEB128()
                set(register, .offset(try factored(cursor.readSLEB128())), in: &state)
            case 0x12:  // DW_CFA_def_cfa_sf
                let register = try cursor.readULEB128()
                state.cfa = .register(register, offset: try factored(cursor.readSLEB128()))
            case 0x13:  // DW_CFA_def_cfa_offset_sf
                setCFAOffset(try factored(cursor.readSLEB128()), in: &state)
            case 0x14, 0x15:  // DW_CFA_val_offset, DW_CFA_val_offset_sf
                let register = try cursor.readULEB128()
                _ = opcode == 0x14 ? try cursor.readULEB128() : UInt64(bitPattern: try cursor.readSLEB128())
                set(register, .other, in: &state)
            case 0x16:  // DW_CFA_val_expression
                let register = try cursor.readULEB128()
                try cursor.skip(cursor.readULEB128())
                set(register, .other, in: &state)
            case 0x2d:  // DW_CFA_GNU_window_save (SPARC) / AArch64 negate_ra_state: no operands
                break
            case 0x2e:  // DW_CFA_GNU_args_size: the callee pops arguments; nothing to follow
                _ = try cursor.readULEB128()
            case 0x2f:  // DW_CFA_GNU_negative_offset_extended
                let register = try cursor.readULEB128()
                let offset = try factored(cursor.readULEB128AsInt64())
                guard offset != Int64.min else { throw .numberOverflow }
                set(register, .offset(-offset), in: &state)
            default:
                throw .badInstruction
            }
        }
        if location < end { row(location, state) }
    }

    /// An offset operand times the data alignment factor, checked.
    private func factored(_ value: Int64) throws(CFISkipReason) -> Int64 {
        let (product, overflow) = value.multipliedReportingOverflow(by: dataAlignment)
        guard !overflow else { throw .numberOverflow }
        return product
    }

    private func set(_ register: UInt64, _ rule: ColumnRule, in state: inout FrameState) {
        if register == returnAddressRegister {
            state.returnAddress = rule
        } else if register == DWARFRegister.rbp {
            state.bp = rule
        }
    }

    private func restore(_ register: UInt64, in state: inout FrameState, from initial: FrameState) {
        if register == returnAddressRegister {
            state.returnAddress = initial.returnAddress
        } else if register == DWARFRegister.rbp {
            state.bp = initial.bp
        }
    }

    private func setCFAOffset(_ offset: Int64, in state: inout FrameState) {
        if case .register(let register, _) = state.cfa {
            state.cfa = .register(register, offset: offset)
        } else {
            state.cfa = .invalid
        }
    }
}
