import Dispatch

/// What the application does with a request: answers now or later, on any thread.
package protocol RequestHandler: Sendable {
    /// Handles one request; calls `respond` exactly once (possibly later, from any
    /// thread). Returns a cancel action for work still in progress, if any.
    func handle(_ r: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)?
}

/// Who hears about every request's outcome (the application's log and metrics), apart
/// from who answers it.
package protocol RequestObserver: Sendable {
    /// A request refused by the parser.
    func refused(_ e: HTTPError, requestID: String, bytesIn: Int)
    /// Called once per answered request.
    func log(_ r: HTTPRequest, requestID: String, response: HTTPResponse, bytesOut: Int, started: DispatchTime)
}
