extension UnwindRule {
    /// The rule for one row of a call-frame program. Precedence: a signal trampoline's rows all
    /// say "signal frame" (their CFI describes the ucontext, which the walker reads directly);
    /// an undefined return address ends the stack whatever the CFA; then the CFA, then RBP.
    init(state: FrameState, isSignalFrame: Bool) {
        if isSignalFrame {
            self.init(cfa: .signalFrame)
            return
        }
        let returnAddressOffset: Int8
        switch state.returnAddress {
        case .undefined:
            self.init(cfa: .outermost)
            return
        case .offset(let offset):
            guard let small = Int8(exactly: offset) else {
                self.init(cfa: .unsupported(.offsetRange))
                return
            }
            returnAddressOffset = small
        case .unchanged, .savedAtBPOffset, .other:
            self.init(cfa: .unsupported(.returnAddressRule))
            return
        }

        let cfa: CFA
        switch state.cfa {
        case .register(let register, let offset) where register == DWARFRegister.rsp || register == DWARFRegister.rbp:
            guard let offset = Int32(exactly: offset) else {
                self.init(cfa: .unsupported(.offsetRange))
                return
            }
            cfa = register == DWARFRegister.rsp ? .spOffset(offset) : .bpOffset(offset)
        case .register:
            cfa = .unsupported(.cfaRegister)
        case .pltStub(let spOffset, let threshold):
            // The packed PLT rule implies RA at CFA − 8 and RBP untouched; anything else is not the stub.
            guard returnAddressOffset == -8, state.bp == .unchanged || state.bp == .undefined else {
                self.init(cfa: .unsupported(.cfaExpression))
                return
            }
            guard let spOffset = Int32(exactly: spOffset) else {
                self.init(cfa: .unsupported(.offsetRange))
                return
            }
            cfa = .pltStub(spOffset: spOffset, threshold: threshold)
        case .bpDereference(let offset):
            guard let offset = Int32(exactly: offset) else {
                self.init(cfa: .unsupported(.offsetRange))
                return
            }
            cfa = .bpDereference(offset)
        case .otherExpression:
            cfa = .unsupported(.cfaExpression)
        case .invalid:
            cfa = .unsupported(.cfaMissing)
        }
        if case .unsupported = cfa {
            self.init(cfa: cfa)
            return
        }

        let savedBP: SavedBP
        switch state.bp {
        case .unchanged, .undefined:
            savedBP = .unchanged
        case .offset(let offset), .savedAtBPOffset(let offset):
            guard let small = Int16(exactly: offset) else {
                self.init(cfa: .unsupported(.offsetRange))
                return
            }
            if case .offset = state.bp { savedBP = .atCFA(small) } else { savedBP = .atBP(small) }
        case .other:
            self.init(cfa: .unsupported(.bpRule))
            return
        }
        self.init(cfa: cfa, returnAddressOffset: returnAddressOffset, savedBP: savedBP)
    }
}
