import HTTP
import Inference

/// The application's refusal codes, each with its status, in one place (the HTTP layer's are in
/// HTTP/HTTPParser.swift). openapi.yaml documents each; the tests check them over sockets.
extension ErrorCode {
    static let badJson = ErrorCode("bad_json", status: 400)
    static let badNpy = ErrorCode("bad_npy", status: 400)
    static let unauthorized = ErrorCode("unauthorized", status: 401)
    static let noHeads = ErrorCode("no_heads", status: 404)
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

extension ErrorCode {
    /// The code the API documents for each of the engine's refusals.
    init(_ kind: InferenceError.Kind) {
        switch kind {
        case .badSampleRate: self = .badFs
        case .tooShort: self = .tooShort
        case .nonFinite: self = .nonFinite
        case .unprocessable: self = .unprocessable
        case .tooManyWindows: self = .tooManyWindows
        case .baselineTooShort: self = .baselineTooShort
        case .baselineUnprocessable: self = .baselineUnprocessable
        case .baselineUnusable: self = .baselineUnusable
        case .nonFiniteOutput: self = .nonFiniteOutput
        case .overloaded: self = .overloaded
        case .memoryBusy: self = .memoryBusy
        }
    }
}

extension HTTPError {
    /// An engine's refusal as the API answers it (Retry-After on what may succeed later).
    init(_ e: InferenceError) {
        self.init(ErrorCode(e.kind), e.message, headers: e.retryable ? [("Retry-After", "1")] : [])
    }
}

extension HTTPResponse {
    /// The native API's error body: `{"error": {"code": "...", "message": "..."}}`.
    static func error(_ e: HTTPError) -> HTTPResponse {
        var w = JSONWriter()
        w.raw("{\"error\":{\"code\":"); w.string(e.code); w.raw(",\"message\":"); w.string(e.message); w.raw("}}")
        return json(e.status, w.out, headers: e.headers)
    }
}
