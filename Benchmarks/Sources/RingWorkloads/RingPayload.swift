/// Ring elements of 8, 64 and 256 bytes. Element `i` holds `i` in every word, so the consumer
/// can tell a torn element (first word ≠ last word) — the same check the C baseline makes.
protocol RingPayload: BitwiseCopyable, Sendable {
    static var byteCount: Int { get }
    init(repeating word: UInt64)
    var first: UInt64 { get }
    var last: UInt64 { get }
}

struct Payload8: RingPayload {
    static var byteCount: Int { 8 }
    var word: UInt64
    init(repeating word: UInt64) { self.word = word }
    var first: UInt64 { word }
    var last: UInt64 { word }
}

struct Payload64: RingPayload {
    static var byteCount: Int { 64 }
    var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    init(repeating w: UInt64) { words = (w, w, w, w, w, w, w, w) }
    var first: UInt64 { words.0 }
    var last: UInt64 { words.7 }
}

struct Payload256: RingPayload {
    static var byteCount: Int { 256 }
    var parts: (Payload64, Payload64, Payload64, Payload64)
    init(repeating w: UInt64) {
        let part = Payload64(repeating: w)
        parts = (part, part, part, part)
    }
    var first: UInt64 { parts.0.first }
    var last: UInt64 { parts.3.last }
}
