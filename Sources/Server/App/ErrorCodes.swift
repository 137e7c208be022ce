import HTTP

/// The application's refusal codes, each with its status, in one place (the HTTP layer's are in
/// HTTP/HTTPParser.swift). openapi.yaml documents each; the tests check them over sockets.
extension ErrorCode {
    static let badJson = ErrorCode("bad_json", status: 400)
    static let badNpy = ErrorCode("bad_npy", status: 400)
    static let unauthorized = ErrorCode("unauthorized", status: 401)
    static let noHeads = ErrorCode("no_heads", status: 404)
    static let notFound = ErrorCode("not_found", status: 404)
    static let methodNotAllowed = ErrorCode("method_not_allowed", status: 405)
    static let tooManyRecordings = ErrorCode("too_many_recordings", status: 413)
    static let tooManyWindows = ErrorCode("too_many_windows", status: 413)
    static let unsupportedEncoding = ErrorCode("unsupported_encoding", status: 415)
    static let unsupportedMediaType = ErrorCode("unsupported_media_type", status: 415)
    static let badDtype = ErrorCode("bad_dtype", status: 422)
    static let badFs = ErrorCode("bad_fs", status: 422)
    static let badShape = ErrorCode("bad_shape", status: 422)
    static let baselineTooShort = ErrorCode("baseline_too_short", status: 422)
    static let baselineUnprocessable = ErrorCode("baseline_unprocessable", status: 422)
    static let baselineUnusable = ErrorCode("baseline_unusable", status: 422)
    static let empty = ErrorCode("empty", status: 422)
    static let missingFs = ErrorCode("missing_fs", status: 422)
    static let nonFinite = ErrorCode("non_finite", status: 422)
    static let nonFiniteOutput = ErrorCode("non_finite_output", status: 422)
    static let outOfRange = ErrorCode("out_of_range", status: 422)
    static let tooShort = ErrorCode("too_short", status: 422)
    static let unprocessable = ErrorCode("unprocessable", status: 422)
    static let memoryBusy = ErrorCode("memory_busy", status: 503)
    static let notReady = ErrorCode("not_ready", status: 503)
    static let overloaded = ErrorCode("overloaded", status: 503)
}
