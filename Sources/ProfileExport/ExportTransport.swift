/// Sends one encoded OTLP `ExportProfilesServiceRequest` and says what became of it. The gRPC
/// transport (`OTLPGRPCTransport`) is one; tests give the exporter their own.
public protocol ExportTransport: Sendable {
    /// Sends `request` (protobuf bytes), giving up after `timeout`. Cancellation ends the call
    /// at once (as `.retryable`): the exporter cancels it at its shutdown deadline.
    func export(_ request: [UInt8], timeout: Duration) async -> ExportOutcome
}

/// What became of one request, as the OTLP specification sorts gRPC statuses.
public enum ExportOutcome: Hashable, Sendable {
    /// The receiver took it. `rejectedProfiles`: what its partial success said it refused
    /// (counted; the request is not sent again).
    case accepted(rejectedProfiles: Int64)
    /// Worth sending again after a wait: UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED (and
    /// the other statuses OTLP calls transient: CANCELLED, ABORTED, OUT_OF_RANGE, DATA_LOSS), or
    /// no connection at all.
    case retryable(status: String, message: String)
    /// Refused for good (INVALID_ARGUMENT and every other status): sending it again cannot help.
    case rejected(status: String, message: String)
}
