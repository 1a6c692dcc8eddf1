import Testing
@testable import Unwinding

/// The walker on stacks laid out by hand, one rule kind or stop reason at a time.
@Suite struct SyntheticWalkTests {
    static let sp: UInt64 = 0x7ffc_0000_1000
    /// A PIE placed at 0x5555_0000_0000: file addresses 0x1000… run at bias + 0x1000….
    static let bias: UInt64 = 0x5555_0000_0000

    /// f1 [0x1000, 0x1100): CFA = RSP + 16 (one push). f2 [0x2000, 0x2100): CFA = RBP + 16,
    /// RBP saved at CFA − 16. f3 [0x3000, 0x3100): CFA = RSP + 8 … then _start-like outermost.
    static let table = UnwindTable.rows([
        (0x1000, UnwindRule(cfa: .spOffset(16))),
        (0x1100, .noRule),
        (0x2000, UnwindRule(cfa: .bpOffset(16), savedBP: .atCFA(-16))),
        (0x2100, .noRule),
        (0x3000, UnwindRule(cfa: .spOffset(32))),
        (0x3100, .noRule),
        (0x4000, UnwindRule(cfa: .outermost)),
        (0x4100, .noRule),
        (0x5000, UnwindRule(cfa: .pltStub(spOffset: 8, threshold: 11))),
        (0x5100, .noRule),
        (0x5fff, UnwindRule(cfa: .signalFrame)),
        (0x6010, .noRule),
        (0x7000, UnwindRule(cfa: .bpDereference(-8), savedBP: .atBP(0))),
        (0x7100, .noRule),
    ])
    static let lookup = FakeLookup(mappings: [(bias + 0x1000 ..< bias + 0x9000, table, bias)])
    static func at(_ fileAddress: UInt64) -> UInt64 { bias + fileAddress }

    /// f1 (leaf) → f2 (RBP frame) → f3 → outermost.
    static func chainStack() -> FakeStack {
        var stack = FakeStack(base: sp, size: 512)
        stack[sp + 8] = at(0x2040)  // f1's return address into f2
        // f2: CFA = RBP + 16; RBP = sp + 0x40 → CFA = sp + 0x50, RA at sp + 0x48, saved RBP at sp + 0x40.
        stack[sp + 0x40] = 0x1111  // the caller's RBP
        stack[sp + 0x48] = at(0x3010)
        // f3: CFA = SP(sp + 0x50) + 32 → RA at sp + 0x68.
        stack[sp + 0x68] = at(0x4008)
        return stack
    }

    @Test func spAndBPBasedFramesToTheOutermost() {
        let (frames, result) = Self.chainStack().walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: Self.sp + 0x40), lookup: Self.lookup)
        #expect(frames == [Self.at(0x1004), Self.at(0x2040), Self.at(0x3010), Self.at(0x4008)])
        #expect(result.stopReason == .outermostFrame)
        #expect(result.framePointerFrames == 0)
    }

    /// In an epilogue, after `pop %rbp`, gcc's row still says RBP is saved at CFA − 48: the slot
    /// lies below SP, outside the copy. The walk goes on with RBP as it is (already the caller's).
    @Test func aSavedBPBelowTheSnapshotKeepsTheRegister() {
        let epilogue = UnwindTable.rows([(0x1000, UnwindRule(cfa: .spOffset(16), savedBP: .atCFA(-48))), (0x1100, .noRule),
                                         (0x4000, UnwindRule(cfa: .outermost)), (0x4100, .noRule)])
        let lookup = FakeLookup(mappings: [(Self.bias + 0x1000 ..< Self.bias + 0x5000, epilogue, Self.bias)])
        var stack = FakeStack(base: Self.sp, size: 64)
        stack[Self.sp + 8] = Self.at(0x4008)
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: 0x2222), lookup: lookup)
        #expect(frames == [Self.at(0x1004), Self.at(0x4008)])
        #expect(result.stopReason == .outermostFrame)
    }

    @Test func theFrameLimitStopsTheWalk() {
        let stack = Self.chainStack()
        let registers = UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: Self.sp + 0x40)
        let (frames, result) = stack.walk(registers, lookup: Self.lookup, capacity: 2)
        #expect(frames == [Self.at(0x1004), Self.at(0x2040)])
        #expect(result.stopReason == .frameLimit)
        let (limited, limitedResult) = stack.walk(registers, lookup: Self.lookup, walker: StackWalker(maximumFrames: 3))
        #expect(limited.count == 3 && limitedResult.stopReason == .frameLimit)
    }

    @Test func aShortSnapshotIsReported() {
        var stack = Self.chainStack()
        stack.bytes.removeLast(stack.bytes.count - 0x60)  // f3's return address slot (sp + 0x68) is cut off
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: Self.sp + 0x40), lookup: Self.lookup)
        #expect(frames.count == 3)
        #expect(result.stopReason == .snapshotTooShort)
    }

    @Test func pltStubCFADependsOnThePCsLowBits() {
        var stack = FakeStack(base: Self.sp, size: 64)
        stack[Self.sp] = Self.at(0x3010)  // before the push: RA at SP
        stack[Self.sp + 8] = Self.at(0x1010)  // after the push: RA at SP + 8
        let (before, _) = stack.walk(UserRegisters(ip: Self.at(0x5026), sp: Self.sp, bp: 0), lookup: Self.lookup)
        #expect(before.dropFirst().first == Self.at(0x3010))
        let (after, _) = stack.walk(UserRegisters(ip: Self.at(0x502b), sp: Self.sp, bp: 0), lookup: Self.lookup)
        #expect(after.dropFirst().first == Self.at(0x1010))
    }

    @Test func aSignalFrameRestoresTheInterruptedRegistersExactly() {
        // The handler (f1 rules) returns into the trampoline at 0x6000; the ucontext at the
        // trampoline's SP says f2 was interrupted at its very first instruction 0x2000.
        var stack = FakeStack(base: Self.sp, size: 1024)
        stack[Self.sp + 8] = Self.at(0x6000)
        let ucontext = Self.sp + 16
        let interruptedSP = Self.sp + 0x300
        stack[ucontext + 40 + 80] = interruptedSP + 0x20  // RBP
        stack[ucontext + 40 + 120] = interruptedSP  // RSP
        stack[ucontext + 40 + 128] = Self.at(0x3000)  // RIP: f3's first byte; 0x2fff has no rule
        stack[interruptedSP + 24] = Self.at(0x4008)  // f3: CFA = RSP + 32
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: 0), lookup: Self.lookup, walker: StackWalker(framePointerFallback: false))
        #expect(frames == [Self.at(0x1004), Self.at(0x6000), Self.at(0x3000), Self.at(0x4008)])
        #expect(result.stopReason == .outermostFrame)
        // Exact: the leaf, the trampoline (named at its first byte), the interrupted frame.
        #expect(result.exactFrames == 0b0111)
    }

    /// A sample inside `rt_sigreturn`: the task's PC is right after the trampoline's `syscall`,
    /// the first byte past its CFI (0x6010); its SP is still the ucontext's.
    @Test func aPCJustPastTheSignalTrampolineUsesItsRule() {
        var stack = FakeStack(base: Self.sp, size: 1024)
        let interruptedSP = Self.sp + 0x300
        stack[Self.sp + 40 + 80] = interruptedSP + 0x20  // RBP
        stack[Self.sp + 40 + 120] = interruptedSP  // RSP
        stack[Self.sp + 40 + 128] = Self.at(0x3000)  // RIP
        stack[interruptedSP + 24] = Self.at(0x4008)
        let walker = StackWalker(framePointerFallback: false)
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x6010), sp: Self.sp, bp: 0), lookup: Self.lookup, walker: walker)
        #expect(frames == [Self.at(0x6010), Self.at(0x3000), Self.at(0x4008)])
        #expect(result.stopReason == .outermostFrame)
        // A return address past its function is not retried: its PC − 1 is looked up already.
        var returnStack = FakeStack(base: Self.sp, size: 64)
        returnStack[Self.sp + 8] = Self.at(0x1101)  // "returns" to just past f1's CFI
        let (past, stop) = returnStack.walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: 0), lookup: Self.lookup, walker: walker)
        #expect(past == [Self.at(0x1004), Self.at(0x1101)])
        #expect(stop.stopReason == .noRule)
    }

    @Test func stackRealignmentDereferencesRBP() {
        var stack = FakeStack(base: Self.sp, size: 512)
        let bp = Self.sp + 0x80
        let cfa = Self.sp + 0x200
        stack[bp - 8] = cfa  // CFA = [RBP − 8]
        stack[bp] = 0x2222  // RBP saved at [RBP + 0]
        stack[cfa - 8] = Self.at(0x4010)
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x7004), sp: Self.sp, bp: bp), lookup: Self.lookup)
        #expect(frames == [Self.at(0x7004), Self.at(0x4010)])
        #expect(result.stopReason == .outermostFrame)
    }

    @Test func noRuleFallsBackToFramePointersOnlyWhenAllowed() {
        // The leaf at 0x1200 (mapped, no rule) has a frame record at RBP = sp + 0x20.
        var stack = FakeStack(base: Self.sp, size: 256)
        let bp = Self.sp + 0x20
        stack[bp] = Self.sp + 0x40
        stack[bp + 8] = Self.at(0x3010)
        stack[bp + 16 + 24] = Self.at(0x4008)  // f3 from SP = bp + 16: CFA = SP + 32
        let registers = UserRegisters(ip: Self.at(0x1200), sp: Self.sp, bp: bp)
        let (frames, result) = stack.walk(registers, lookup: Self.lookup)
        #expect(frames == [Self.at(0x1200), Self.at(0x3010), Self.at(0x4008)])
        #expect(result.stopReason == .outermostFrame)
        #expect(result.framePointerFrames == 1)
        let (strict, strictResult) = stack.walk(registers, lookup: Self.lookup, walker: StackWalker(framePointerFallback: false))
        #expect(strict == [Self.at(0x1200)])
        #expect(strictResult.stopReason == .noRule)
        // RBP outside the snapshot: no fallback.
        let (outside, outsideResult) = stack.walk(UserRegisters(ip: Self.at(0x1200), sp: Self.sp, bp: Self.sp + 0x1000), lookup: Self.lookup)
        #expect(outside.count == 1 && outsideResult.stopReason == .noRule)
    }

    @Test func aFramePointerLoopEnds() {
        // RBP points at itself: after one fallback frame SP is above RBP, so the chain ends.
        var stack = FakeStack(base: Self.sp, size: 256)
        let bp = Self.sp + 0x20
        stack[bp] = bp
        stack[bp + 8] = Self.at(0x1210)
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x1200), sp: Self.sp, bp: bp), lookup: Self.lookup)
        #expect(frames == [Self.at(0x1200), Self.at(0x1210)])
        #expect(result.stopReason == .noRule)
        #expect(result.framePointerFrames == 1)
    }

    @Test func aCFAThatDoesNotMoveUpIsABadFrame() {
        let table = UnwindTable.rows([(0x1000, UnwindRule(cfa: .spOffset(0)))])
        let lookup = FakeLookup(mappings: [(0x1000 ..< 0x2000, table, 0)])
        let (_, result) = FakeStack(base: Self.sp, size: 64).walk(UserRegisters(ip: 0x1004, sp: Self.sp, bp: 0), lookup: lookup)
        #expect(result.stopReason == .badFrame)
    }

    @Test func unmappedUnsupportedAndZeroReturnAddresses() {
        var stack = FakeStack(base: Self.sp, size: 64)
        stack[Self.sp + 8] = 0xdead_0000  // no mapping
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: 0), lookup: Self.lookup)
        #expect(frames == [Self.at(0x1004), 0xdead_0000])
        #expect(result.stopReason == .noMapping)

        stack[Self.sp + 8] = 0
        let (zero, zeroResult) = stack.walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: 0), lookup: Self.lookup)
        #expect(zero == [Self.at(0x1004)] && zeroResult.stopReason == .outermostFrame)

        let unsupported = UnwindTable.rows([(0x1000, UnwindRule(cfa: .unsupported(.cfaRegister)))])
        let lookup = FakeLookup(mappings: [(0x1000 ..< 0x2000, unsupported, 0)])
        let (_, unsupportedResult) = stack.walk(UserRegisters(ip: 0x1004, sp: Self.sp, bp: 0), lookup: lookup)
        #expect(unsupportedResult.stopReason == .unsupportedRule)
    }

    @Test func returnAddressesAreLookedUpAtPCMinusOne() {
        // f1's return address is f2's end (0x2100, a noreturn call at f2's last byte): the
        // rule at 0x20ff (f2's) must be used, not the noRule at 0x2100.
        var stack = FakeStack(base: Self.sp, size: 256)
        stack[Self.sp + 8] = Self.at(0x2100)
        stack[Self.sp + 0x40] = 0
        stack[Self.sp + 0x48] = Self.at(0x4008)
        let (frames, result) = stack.walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: Self.sp + 0x40), lookup: Self.lookup, walker: StackWalker(framePointerFallback: false))
        #expect(frames == [Self.at(0x1004), Self.at(0x2100), Self.at(0x4008)])
        #expect(result.stopReason == .outermostFrame)
    }

    @Test func anEmptyOutputBufferWritesNothing() {
        let (frames, result) = Self.chainStack().walk(UserRegisters(ip: Self.at(0x1004), sp: Self.sp, bp: 0), lookup: Self.lookup, capacity: 0)
        #expect(frames.isEmpty && result.stopReason == .frameLimit)
    }
}
