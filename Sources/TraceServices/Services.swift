public import ServiceLifecycle
public import TraceEngine
public import TraceProfiler

// swift-service-lifecycle's `Service` for the engine and the profiler, in a module of their own so
// that a program that does not run a `ServiceGroup` (the agent) links neither swift-service-
// lifecycle nor what it brings (AsyncAlgorithms, swift-log): 1.7 MB of the agent's binary.
// Graceful shutdown cancels the run, which then stops as on cancellation: draining, losing nothing.

extension StagedEngine: Service {
    /// `runUntilStopped()`, ended by graceful shutdown as by cancellation; `statistics()` is final
    /// when it returns.
    public func run() async throws {
        _ = try await cancelWhenGracefulShutdown { try await self.runUntilStopped() }
    }
}

extension Profiler: Service {
    /// `profile()`, ended by graceful shutdown as by cancellation; `statistics()` holds the final
    /// statistics when it returns.
    public func run() async throws {
        _ = try await cancelWhenGracefulShutdown { try await self.profile() }
    }
}
