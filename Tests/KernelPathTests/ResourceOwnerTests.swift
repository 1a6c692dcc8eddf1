import Foundation
@testable import KernelPath
import Testing

/// Kernel resources acquired by an `init` that then fails are released once, by their owner.
@Suite struct ResourceOwnerTests {
    /// More polls than an io_uring can have entries (the kernel refuses 65536): the ring's setup
    /// fails after the eventfd was made. The failed poller must neither tear down a ring that was
    /// never set up nor close its eventfd twice — the second close would hit whatever file took
    /// the number in between.
    @Test func aPollerWhoseRingCannotBeMadeReleasesItsEventFDOnce() throws {
        #expect(throws: KernelPathError.self) { _ = try IOUringPoller(pollFDs: Array(repeating: 0, count: 40_000)) }
        // The eventfd's number is free again: the next descriptor gets it, and it stays open.
        var pipeFDs: [Int32] = [0, 0]
        #expect(pipe(&pipeFDs) == 0)
        defer { close(pipeFDs[0]); close(pipeFDs[1]) }
        #expect(throws: KernelPathError.self) { _ = try IOUringPoller(pollFDs: Array(repeating: 0, count: 40_000)) }
        #expect(fcntl(pipeFDs[0], F_GETFD) >= 0 && fcntl(pipeFDs[1], F_GETFD) >= 0, "a failed poller closed someone else's descriptor")
    }
}
