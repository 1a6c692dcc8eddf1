import FuzzSupport
import Unwinding

// The input is one file's call-frame information and a sample to walk with it:
//
//   flags u8, virtualAddress u64, textBase u64, dataBase u64, ehFrameLength u16, debugFrameLength u16,
//   registers (ip offset u16, sp u64, bp u64), loadBias u64, walk limits u8 ×2,
//   .eh_frame bytes, .debug_frame bytes, the copied stack (the rest).
//
// Seeds are real sections (`objcopy -O binary --only-section=.eh_frame`) in that frame.
// `UnwindTable(ehFrame:debugFrame:)` says it never traps on any bytes and bounds its rows; the
// table it builds must be sorted and answer `rule(at:)` as its rows say; `StackWalker.walk`
// must stop within its limits whatever the stack holds.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCFI(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(UnsafeRawBufferPointer(start: start, count: count))
    let flags = input.read(UInt8.self)
    let virtualAddress = input.read(UInt64.self)
    let textBase = input.read(UInt64.self)
    let dataBase = input.read(UInt64.self)
    let ehFrameLength = Int(input.read(UInt16.self))
    let debugFrameLength = Int(input.read(UInt16.self))
    let ipOffset = UInt64(input.read(UInt16.self))
    let sp = input.read(UInt64.self)
    let bp = input.read(UInt64.self)
    let loadBias = input.read(UInt64.self)
    let maximumFrames = input.below(256)
    let capacity = input.below(256)
    let ehFrameBytes = input.take(ehFrameLength)
    let debugFrameBytes = input.take(debugFrameLength)
    let stack = input.rest()

    // Small limits now and then, so their errors are reached too.
    let limits = flags & 0x10 != 0
        ? UnwindTableLimits(maximumRows: Int(flags >> 5) * 16, maximumRememberedStates: Int(flags >> 5))
        : UnwindTableLimits()
    let ehFrame = flags & 1 != 0
        ? CFISection(bytes: ehFrameBytes, virtualAddress: virtualAddress, format: .ehFrame,
                     textBase: flags & 4 != 0 ? textBase : nil, dataBase: flags & 8 != 0 ? dataBase : nil)
        : nil
    // Either format in the second place: a debug file's `.debug_frame`, or `.eh_frame` bytes
    // read as the other format (a mislabelled section must not crash either).
    let debugFrame = flags & 2 != 0
        ? CFISection(bytes: debugFrameBytes, virtualAddress: virtualAddress, format: flags & 0x80 != 0 ? .ehFrame : .debugFrame)
        : nil
    let table: UnwindTable
    do {
        table = try UnwindTable(ehFrame: ehFrame, debugFrame: debugFrame, limits: limits)
    } catch {
        return 0
    }
    checkRows(table)

    // A walk from a PC in the table (a row's start plus the offset), with the table mapped at
    // `loadBias` over the range the rows cover and nothing mapped elsewhere.
    let rowCount = table.rowCount
    let firstStart = rowCount > 0 ? table.row(0).start : 0
    let lastStart = rowCount > 0 ? table.row(rowCount - 1).start : 0
    let lookup = SingleFileLookup(table: table, loadBias: loadBias, low: firstStart &+ loadBias, high: lastStart &+ loadBias &+ 4096)
    let ip = rowCount > 0 ? table.row(Int(ipOffset) % rowCount).start &+ loadBias &+ (ipOffset >> 8) : ipOffset
    let frames = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: capacity)
    defer { frames.deallocate() }
    let walker = StackWalker(maximumFrames: maximumFrames, framePointerFallback: flags & 0x20 != 0)
    let result = walker.walk(registers: UserRegisters(ip: ip, sp: sp, bp: bp), stack: stack, lookup: lookup, into: frames)
    precondition(result.frameCount >= 0 && result.frameCount <= min(maximumFrames, capacity),
                 "\(result.frameCount) frames in room for \(min(maximumFrames, capacity))")
    precondition(result.framePointerFrames <= result.frameCount)
    precondition(result.frameCount == 0 || frames[0] == ip, "the leaf is not the IP")
    return 0
}

/// Rows strictly ascending, and `rule(at:)` of a row's start (and the address before the next
/// row) is that row's rule.
private func checkRows(_ table: UnwindTable) {
    var previous: UInt64?
    for index in 0..<table.rowCount {
        let (start, rule) = table.row(index)
        if let previous { precondition(start > previous, "row \(index) at \(start) after \(previous)") }
        precondition(table.rule(at: start) == rule, "rule(at:) of row \(index)'s start is not its rule")
        if index + 1 < table.rowCount {
            let next = table.row(index + 1).start
            if next > start { precondition(table.rule(at: next - 1) == rule, "rule(at:) just before row \(index + 1)") }
        }
        previous = start
    }
    precondition(table.rowCount == 0 || table.rule(at: table.row(0).start &- 1) == .noRule || table.row(0).start == 0,
                 "an address below every row has a rule")
    precondition(table.byteCount >= 0)
}

/// One file mapped over `low ..< high`.
private struct SingleFileLookup: UnwindTableLookup {
    /// Held here: the mapping does not retain it.
    let table: UnwindTable
    let mapping: UnwindTableMapping
    let low: UInt64
    let high: UInt64

    init(table: UnwindTable, loadBias: UInt64, low: UInt64, high: UInt64) {
        self.table = table
        mapping = UnwindTableMapping(table: table, loadBias: loadBias)
        self.low = low
        self.high = high
    }

    func mapping(containing address: UInt64) -> UnwindTableMapping? {
        low <= high ? (address >= low && address < high ? mapping : nil) : (address >= low || address < high ? mapping : nil)
    }
}
