import Foundation

/// What a server is built from besides its weights: limits, timeouts, workers and where to
/// listen. `ecg-server` builds it from its options and environment (`ECGServer.configuration`);
/// tests build it the same way or set fields directly. Defaults are the command line's.
struct ServerConfiguration: Sendable {
    var host = "0.0.0.0"
    var port = 8080
    /// An OpenAPI file to serve instead of the built-in spec ("" = built-in).
    var openapi = ""
    var workers = ProcessInfo.processInfo.activeProcessorCount
    var maxBatch = 32
    var batchWaitMs = 0.0
    var spinUs = 0.0
    var queueCapacity = 2048
    var maxBodyBytes = 8 << 20
    var memoryBudgetMib = 256
    var maxHeaderBytes = 32 << 10
    var maxRequestLine = 8 << 10
    var maxWindows = 1024
    var maxRecordings = 1024
    var maxConnections = 1024
    var readTimeout = 30.0
    var headerTimeout = 10.0
    var idleTimeout = 60.0
    var reservedProbeConnections = 8
    var lingerSeconds = 2.0
    var drainSeconds = 20.0
    /// The Server header's value.
    var serverName = "ecg-server"
}
