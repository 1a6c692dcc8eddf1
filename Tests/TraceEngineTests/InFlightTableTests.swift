import Testing
@testable import TraceEngine
import TraceModel

@Suite struct InFlightTableTests {
    /// Random inserts, updates and removals against a dictionary, in a small table where probe
    /// runs wrap around and removals shift entries back; every key is checked after each step.
    @Test(arguments: [1, 7, 32])
    func agreesWithADictionary(maximumCount: Int) {
        var table = InFlightTable(maximumCount: maximumCount)
        var model: [UInt64: UInt32] = [:]
        var generator = SystemRandomNumberGenerator()
        let keys = (0..<UInt64(3 * maximumCount + 3)).map { $0 &* 0x0123_4567_89ab_cdef }
        for step in 0..<5_000 {
            let key = keys.randomElement(using: &generator)!
            let hash = HostTraceHash(rawValue: key)
            if model[key] != nil, Bool.random(using: &generator) {
                #expect(table.remove(hash)?.head == model.removeValue(forKey: key))
            } else if model[key] != nil {
                let index = table.index(of: hash)!
                table[index] = PendingList(head: UInt32(step), tail: 0)
                model[key] = UInt32(step)
            } else if model.count < maximumCount {
                table.insert(hash, PendingList(head: UInt32(step), tail: 0))
                model[key] = UInt32(step)
            } else {
                #expect(table.remove(hash) == nil)
            }
            #expect(table.count == model.count)
            for key in keys {
                #expect(table.index(of: HostTraceHash(rawValue: key)).map { table[$0].head } == model[key])
            }
        }
    }
}
