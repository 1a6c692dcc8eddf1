public import TraceModel

/// The synthetic source as an `AsyncSequence`: `count` traces, generated as they are pulled, so a
/// slow consumer slows the source instead of growing a buffer. ktime advances 1 µs a trace.
public struct SyntheticTraceSequence: AsyncSequence, Sendable {
    /// Raw traces, as a sampler would deliver them.
    public typealias Element = RawTrace
    /// Iteration never fails; it ends early when the iterating task is cancelled.
    public typealias Failure = Never

    /// The generator every iterator starts from: each iteration yields the same traces.
    public let generator: SyntheticTraceGenerator
    /// Traces an iteration yields (fewer if its task is cancelled).
    public let count: Int

    /// Checks `configuration` (throwing the error of its `validate()`); nothing is generated until
    /// an iterator pulls.
    public init(_ configuration: SyntheticTraceConfiguration, count: Int) throws(ConfigurationError) {
        generator = try SyntheticTraceGenerator(configuration)
        self.count = count
    }

    /// One iteration: its own copy of the generator, and a ktime that starts at 1 s.
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
