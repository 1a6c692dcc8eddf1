public import TraceModel

/// The synthetic source as an `AsyncSequence`: `count` traces, generated as they are pulled, so a
/// slow consumer slows the source instead of growing a buffer. ktime advances 1 µs a trace.
public struct SyntheticTraceSequence: AsyncSequence, Sendable {
    public typealias Element = RawTrace
    public typealias Failure = Never

    public let generator: SyntheticTraceGenerator
    public let count: Int

    public init(_ configuration: SyntheticTraceConfiguration, count: Int) throws(ConfigurationError) {
        generator = try SyntheticTraceGenerator(configuration)
        self.count = count
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var generator: SyntheticTraceGenerator
        var remaining: Int
        var ktime: UInt64 = 1_000_000_000

        public mutating func next(isolation actor: isolated (any Actor)?) async -> RawTrace? {
            guard remaining > 0, !Task.isCancelled else { return nil }
            remaining -= 1
            ktime += 1000
            return generator.next(ktime: KTime(rawValue: ktime))
        }

        public mutating func next() async -> RawTrace? { await next(isolation: nil) }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(generator: generator, remaining: count) }
}
