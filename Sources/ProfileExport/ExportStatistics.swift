/// What the exporter did with the samples handed to it, since it was made. Every sample handed
/// over is in exactly one of `samplesSent`, a `samplesDropped…` count, `samplesSpooled` or
/// `samplesQueued`: `isConserved` checks it.
public struct ExportStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Intervals handed over (those with samples) and the samples in them.
    public var intervals = 0
    public var samples: UInt64 = 0
    /// Requests the receiver accepted, their bytes (uncompressed) and samples.
    public var requestsSent = 0
    public var bytesSent = 0
    public var samplesSent: UInt64 = 0
    /// Attempts that failed and were retried, and those that failed for good.
    public var retries = 0
    public var failedAttempts = 0
    /// Profiles a receiver's partial success said it refused, in accepted requests.
    public var profilesRejectedByReceiver: Int64 = 0
    /// Whole intervals dropped because the queue was full, and their samples.
    public var intervalsDropped = 0
    public var samplesDroppedQueueFull: UInt64 = 0
    /// Samples of requests the receiver refused for good (INVALID_ARGUMENT, …).
    public var samplesDroppedRejected: UInt64 = 0
    /// Samples of a single sample too large for `export.max-message-bytes`.
    public var samplesDroppedOversize: UInt64 = 0
    /// Samples still queued at shutdown and not spooled.
    public var samplesDroppedAtShutdown: UInt64 = 0
    /// Samples still queued at shutdown, written to `export.spool-dir`.
    public var samplesSpooled: UInt64 = 0
    /// Requests read back from the spool at start, and their samples (not in `samples`).
    public var spooledRequestsLoaded = 0
    public var spooledSamplesLoaded: UInt64 = 0
    /// What waits now: requests, bytes, samples.
    public var requestsQueued = 0
    public var bytesQueued = 0
    public var samplesQueued: UInt64 = 0
    /// The most bytes that waited at once.
    public var bytesQueuedHighWater = 0
    /// The last failure, as the transport told it.
    public var lastFailure: String?

    public init() {}

    /// Every sample dropped, for any reason.
    public var samplesDropped: UInt64 {
        samplesDroppedQueueFull + samplesDroppedRejected + samplesDroppedOversize + samplesDroppedAtShutdown
    }

    /// Handed over (and loaded from the spool) = sent + dropped + spooled + queued.
    public var isConserved: Bool {
        samples + spooledSamplesLoaded == samplesSent + samplesDropped + samplesSpooled + samplesQueued
    }

    public var description: String {
        var text = "\(intervals) intervals, \(samples) samples: \(samplesSent) sent in \(requestsSent) requests (\(bytesSent) bytes)"
        text += ", dropped \(samplesDropped) (queue full \(samplesDroppedQueueFull) in \(intervalsDropped) intervals"
        text += ", refused \(samplesDroppedRejected), oversize \(samplesDroppedOversize), at shutdown \(samplesDroppedAtShutdown))"
        text += ", spooled \(samplesSpooled), queued \(samplesQueued); \(retries) retries, \(failedAttempts) failed attempts"
        if spooledRequestsLoaded > 0 { text += "; \(spooledRequestsLoaded) spooled requests (\(spooledSamplesLoaded) samples) loaded" }
        if profilesRejectedByReceiver > 0 { text += "; receiver refused \(profilesRejectedByReceiver) profiles" }
        if let lastFailure { text += "; last failure: \(lastFailure)" }
        return text
    }
}
