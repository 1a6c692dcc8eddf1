/// The user registers a walk starts from, as the sampler captured them.
public struct UserRegisters: Sendable, Equatable {
    /// The instruction pointer: the sampled instruction, the walk's leaf frame.
    public var ip: UInt64
    /// The stack pointer: the address of the snapshot's first byte.
    public var sp: UInt64
    /// RBP, for rules that find the CFA through it and for the frame-pointer fallback.
    public var bp: UInt64

    /// The instruction pointer, stack pointer and RBP of the sampled thread in user mode.
    public init(ip: UInt64, sp: UInt64, bp: UInt64) {
        self.ip = ip
        self.sp = sp
        self.bp = bp
    }
}

/// Why a walk ended. Only `outermostFrame` means the whole stack was found.
public enum StackWalkStopReason: UInt8, Sendable, Hashable, CaseIterable {
    /// The return address is undefined (`_start`, a thread's entry) or 0: the stack is complete.
    case outermostFrame
    /// No file with a table is mapped at the PC (anonymous code, an unbuilt table).
    case noMapping
    /// The file's table has no rule at the PC and the frame-pointer fallback is off or did not apply.
    case noRule
    /// The rule at the PC is one the walker cannot follow (`UnsupportedRuleReason`).
    case unsupportedRule
    /// A read fell past the end of the copied stack: the stack is deeper than the snapshot.
    case snapshotTooShort
    /// The output buffer or `maximumFrames` is full and the stack goes on.
    case frameLimit
    /// The next frame would not be above this one (SP must grow every frame), or a read fell
    /// below the snapshot: corrupt registers or stack, or a loop.
    case badFrame
}

/// What a walk wrote and why it stopped.
public struct StackWalkResult: Sendable, Equatable {
    /// Frames written: the leaf IP first, then one return address per caller.
    public var frameCount: Int
    /// Why the walk ended; only `outermostFrame` means the whole stack was found.
    public var stopReason: StackWalkStopReason
    /// Frames found through the frame-pointer fallback instead of CFI.
    public var framePointerFrames: Int
    /// Bit i set: frame i's address is the instruction itself (the leaf, a frame a signal
    /// interrupted, the signal trampoline), not a return address just after a call. Frames past
    /// 127 have no bit.
    public var exactFrames: UInt128

    /// A result as a walk reports it (public for fakes in tests of the stage).
    public init(frameCount: Int, stopReason: StackWalkStopReason, framePointerFrames: Int, exactFrames: UInt128 = 1) {
        self.frameCount = frameCount
        self.stopReason = stopReason
        self.framePointerFrames = framePointerFrames
        self.exactFrames = exactFrames
    }
}

/// Unwinds a copied user stack with per-file unwind tables (x86-64): the way perf's
/// `--call-graph dwarf` does, as an engine stage. Allocation-free: it reads the snapshot and the
/// tables and writes into the caller's buffer.
public struct StackWalker: Sendable {
    /// At most this many frames are written (the buffer's size bounds it too).
    public var maximumFrames: Int
    /// Where a file is mapped but its table has no rule (JIT code, hand-written assembly),
    /// follow the frame-pointer chain: RA = [BP + 8], caller's BP = [BP], SP = BP + 16 — only
    /// when BP points into the snapshot. Counted in `StackWalkResult.framePointerFrames`.
    public var framePointerFallback: Bool

    /// A walker writing at most `maximumFrames` frames, with or without the frame-pointer fallback.
    public init(maximumFrames: Int = 128, framePointerFallback: Bool = true) {
        self.maximumFrames = maximumFrames
        self.framePointerFallback = framePointerFallback
    }

    /// Walks the stack of one sample. `stack` is the copied user stack: its first byte is the
    /// memory at `registers.sp`. Writes the leaf IP and then each caller's return address into
    /// `frames`.
    public func walk<Lookup: UnwindTableLookup>(
        registers: UserRegisters,
        stack: UnsafeRawBufferPointer,
        lookup: Lookup,
        into frames: UnsafeMutableBufferPointer<UInt64>
    ) -> StackWalkResult {
        let capacity = min(maximumFrames, frames.count)
        guard capacity > 0 else { return StackWalkResult(frameCount: 0, stopReason: .frameLimit, framePointerFrames: 0) }
        let snapshot = StackSnapshot(bytes: stack, base: registers.sp)
        var frame = Frame(pc: registers.ip, sp: registers.sp, bp: registers.bp, pcIsExact: true)
        var count = 1
        var framePointerFrames = 0
        var exactFrames: UInt128 = 1
        frames[0] = frame.pc
        while true {
            let caller: Frame
            switch step(from: frame, snapshot: snapshot, lookup: lookup) {
            case .caller(let next, let viaFramePointer):
                caller = next
                if viaFramePointer { framePointerFrames += 1 }
            case .stop(let reason):
                return StackWalkResult(frameCount: count, stopReason: reason, framePointerFrames: framePointerFrames, exactFrames: exactFrames)
            }
            guard caller.pc != 0 else {
                return StackWalkResult(frameCount: count, stopReason: .outermostFrame, framePointerFrames: framePointerFrames, exactFrames: exactFrames)
            }
            guard count < capacity else {
                return StackWalkResult(frameCount: count, stopReason: .frameLimit, framePointerFrames: framePointerFrames, exactFrames: exactFrames)
            }
            frames[count] = caller.pc
            // Only a signal frame gives an exact caller. The trampoline's own address (frame
            // count − 1) is exact too: the kernel pointed the handler's return at its first
            // instruction, and one byte back is another function (glibc starts the trampoline's
            // CFI a byte early for unwinders, not for names).
            if caller.pcIsExact && count < 128 { exactFrames |= 3 << UInt128(count - 1) }
            count += 1
            frame = caller
        }
    }

    /// One frame's registers. `pcIsExact` is true for the leaf and a frame a signal interrupted:
    /// their PC is the instruction itself, not a return address just after a call.
    struct Frame {
        var pc: UInt64
        var sp: UInt64
        var bp: UInt64
        var pcIsExact: Bool
    }

    enum Step {
        case caller(Frame, viaFramePointer: Bool)
        case stop(StackWalkStopReason)
    }

    /// The caller of `frame`, or why it cannot be found.
    func step<Lookup: UnwindTableLookup>(from frame: Frame, snapshot: StackSnapshot, lookup: Lookup) -> Step {
        // A return address points after the call, possibly past the end of the calling
        // function (a noreturn call) — the call itself is at PC − 1.
        let pc = frame.pcIsExact ? frame.pc : frame.pc &- 1
        guard let mapping = lookup.mapping(containing: pc) else { return .stop(.noMapping) }
        var rule = mapping.rows.rule(at: pc &- mapping.loadBias)
        // An exact PC just past the end of its function's CFI: a task inside a system call stands
        // right after its `syscall` instruction, and the signal trampoline `__restore_rt` ends
        // with one (a sample taken in `rt_sigreturn`). The instruction before has the frame's
        // rule. Only where the PC itself has none: everywhere else the PC's own row is right.
        // (Wrong only for an exact PC at the first byte of a function without CFI that follows
        // a noreturn call: rare, where the frame-pointer fallback would have been tried.)
        if frame.pcIsExact, case .noRule = rule.cfa, let previous = lookup.mapping(containing: pc &- 1) {
            let before = previous.rows.rule(at: pc &- 1 &- previous.loadBias)
            if case .noRule = before.cfa {} else { rule = before }
        }

        let cfa: UInt64
        switch rule.cfa {
        case .spOffset(let offset):
            cfa = frame.sp &+ UInt64(bitPattern: Int64(offset))
        case .bpOffset(let offset):
            cfa = frame.bp &+ UInt64(bitPattern: Int64(offset))
        case .pltStub(let spOffset, let threshold):
            // Past the stub's push (low PC bits ≥ threshold) the CFA is 8 bytes further up.
            cfa = frame.sp &+ UInt64(bitPattern: Int64(spOffset)) &+ (pc & 15 >= UInt64(threshold) ? 8 : 0)
        case .bpDereference(let offset):
            switch snapshot.load(frame.bp &+ UInt64(bitPattern: Int64(offset))) {
            case .success(let value): cfa = value
            case .failure(let miss): return .stop(Self.reason(miss))
            }
        case .signalFrame:
            return signalFrameCaller(frame, snapshot: snapshot)
        case .noRule:
            return framePointerCaller(frame, snapshot: snapshot)
        case .outermost:
            return .stop(.outermostFrame)
        case .unsupported:
            return .stop(.unsupportedRule)
        }
        guard cfa > frame.sp else { return .stop(.badFrame) }

        let returnAddress: UInt64
        switch snapshot.load(cfa &+ UInt64(bitPattern: Int64(rule.returnAddressOffset ?? -8))) {
        case .success(let value): returnAddress = value
        case .failure(let miss): return .stop(Self.reason(miss))
        }
        // A saved BP that cannot be read does not end the walk: only CFA and RA must be found.
        // In an epilogue gcc's rows still say "saved at CFA − n" after the `pop %rbp` that
        // restored it; the slot is then below SP, outside the copy, and the register already
        // holds the caller's value. (perf's libdw unwinder likewise leaves such a register unknown.)
        let bp: UInt64
        switch rule.savedBP {
        case .unchanged:
            bp = frame.bp
        case .atCFA(let offset):
            bp = (try? snapshot.load(cfa &+ UInt64(bitPattern: Int64(offset))).get()) ?? frame.bp
        case .atBP(let offset):
            bp = (try? snapshot.load(frame.bp &+ UInt64(bitPattern: Int64(offset))).get()) ?? frame.bp
        }
        return .caller(Frame(pc: returnAddress, sp: cfa, bp: bp, pcIsExact: false), viaFramePointer: false)
    }

    /// In a signal trampoline (`__restore_rt`), SP points at the `ucontext_t` the kernel saved
    /// the interrupted registers in (x86-64: `uc_mcontext` at 40; RBP, RSP, RIP at gregs
    /// 10, 15, 16). The interrupted PC is exact: no call happened there.
    private func signalFrameCaller(_ frame: Frame, snapshot: StackSnapshot) -> Step {
        let machineContext = frame.sp &+ 40
        let bp = snapshot.load(machineContext &+ 10 * 8)
        let sp = snapshot.load(machineContext &+ 15 * 8)
        let ip = snapshot.load(machineContext &+ 16 * 8)
        guard case .success(let bpValue) = bp, case .success(let spValue) = sp, case .success(let ipValue) = ip else {
            return .stop(.snapshotTooShort)
        }
        // The signal frame is pushed below the interrupted SP, so it must lie above; on an
        // alternate signal stack it does not, and the snapshot would not hold it anyway.
        guard spValue > frame.sp else { return .stop(.badFrame) }
        return .caller(Frame(pc: ipValue, sp: spValue, bp: bpValue, pcIsExact: true), viaFramePointer: false)
    }

    /// The frame-pointer chain: RBP points at the saved RBP, with the return address above it.
    private func framePointerCaller(_ frame: Frame, snapshot: StackSnapshot) -> Step {
        guard framePointerFallback, frame.bp >= frame.sp, snapshot.containsFrameRecord(at: frame.bp),
              case .success(let savedBP) = snapshot.load(frame.bp),
              case .success(let returnAddress) = snapshot.load(frame.bp &+ 8)
        else { return .stop(.noRule) }
        return .caller(Frame(pc: returnAddress, sp: frame.bp &+ 16, bp: savedBP, pcIsExact: false), viaFramePointer: true)
    }

    private static func reason(_ miss: StackSnapshot.Miss) -> StackWalkStopReason {
        switch miss {
        case .belowStart: return .badFrame
        case .pastEnd: return .snapshotTooShort
        }
    }
}
