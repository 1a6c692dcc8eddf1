@testable import Unwinding

/// A lookup over a few (range, table, bias) mappings, as the engine's process maps would give.
struct FakeLookup: UnwindTableLookup {
    /// The tables are held here: `UnwindTableMapping` does not retain its table.
    var mappings: [(range: Range<UInt64>, table: UnwindTable, loadBias: UInt64)]

    func mapping(containing address: UInt64) -> UnwindTableMapping? {
        mappings.first { $0.range.contains(address) }.map { UnwindTableMapping(table: $0.table, loadBias: $0.loadBias) }
    }
}

extension UnwindTable {
    /// A table from explicit rows, for walker tests.
    static func rows(_ rows: [(UInt64, UnwindRule)]) -> UnwindTable {
        UnwindTable(starts: rows.map(\.0), rules: rows.map(\.1), statistics: UnwindTableStatistics())
    }
}

/// A stack laid out by hand: 8-byte slots from `base` (the sampled SP) upwards.
struct FakeStack {
    let base: UInt64
    var bytes: [UInt8]

    init(base: UInt64, size: Int) {
        self.base = base
        bytes = [UInt8](repeating: 0, count: size)
    }

    subscript(address: UInt64) -> UInt64 {
        get { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(address - base), as: UInt64.self) } }
        set { bytes.withUnsafeMutableBytes { $0.storeBytes(of: newValue, toByteOffset: Int(address - base), as: UInt64.self) } }
    }

    /// Walks this stack from `registers` (whose SP must be `base`).
    func walk(_ registers: UserRegisters, lookup: FakeLookup, walker: StackWalker = StackWalker(), capacity: Int = 64) -> (frames: [UInt64], result: StackWalkResult) {
        var frames = [UInt64](repeating: 0, count: capacity)
        let result = bytes.withUnsafeBytes { stack in
            frames.withUnsafeMutableBufferPointer { walker.walk(registers: registers, stack: stack, lookup: lookup, into: $0) }
        }
        return (Array(frames[..<result.frameCount]), result)
    }
}
