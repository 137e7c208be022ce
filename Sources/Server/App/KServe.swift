import Foundation
import HTTP
import Model
import Inference

/// The Open Inference Protocol (KServe v2 / Triton HTTP/REST), beside the native API,
/// with the binary tensor data extension, so Triton and KServe clients work unchanged.
///
///   GET  /v2  /v2/health/live  /v2/health/ready  /v2/models/ssl-ecg  /v2/models/ssl-ecg/ready
///   POST /v2/models/ssl-ecg/infer
///
/// Input `ecg`: FP32 or FP64, shape [samples] or [recordings, samples]; request parameters
/// `fs` (Hz; required unless `preprocessed`) and `preprocessed` (bool). Outputs:
/// `embedding` FP32 [windows, 128], one FP32 [windows, labels] per head, `window_recording`
/// and `window_start_s` INT32 [windows], `window_quality` INT32 [windows] (0 good, 1 poor,
/// 2 unusable). Errors are `{"error": "message"}` as the protocol says.
extension ECGService {
    static let kserveModel = "ssl-ecg"

    var kserveOutputs: [(name: String, shape: [Int])] {
        var names: [String] = []
        for h in heads where !names.contains(h.name) { names.append(h.name) }
        return [("embedding", [-1, EncoderGeometry.embeddingSize])] + names.map { n in (n, [-1, heads.first { $0.name == n }!.labels.count]) }
            + [("window_recording", [-1]), ("window_start_s", [-1]), ("window_quality", [-1])]
    }

    static func v2Error(_ status: Int, _ message: String) -> HTTPResponse {
        var w = JSONWriter()
        w.raw("{\"error\":"); w.string(message); w.raw("}")
        return .json(status, w.out)
    }

    /// A refusal in the protocol's shape (`{"error": "message"}`), with its headers.
    static func v2Error(_ e: HTTPError) -> HTTPResponse {
        var r = v2Error(e.status, e.message)
        r.headers += e.headers
        return r
    }

    /// The protocol's routes (the router answers HEAD, 404 and 405 in its error shape).
    var kserveRoutes: [Route] {
        let model = "/v2/models/\(Self.kserveModel)"
        return [
            Route("/v2", ["GET"]) { _, respond in
                respond(.json(200, Array(#"{"name":"ecg-affect","version":"1","extensions":["binary_tensor_data"]}"#.utf8))); return nil
            },
            Route("/v2/health/live", ["GET"], probe: true) { _, respond in
                respond(.json(200, Array("{\"live\":true}".utf8))); return nil
            },
            Route("/v2/health/ready", ["GET"], probe: true) { [self] _, respond in
                respond(v2Readiness()); return nil
            },
            Route(model + "/ready", ["GET"], authenticated: true) { [self] _, respond in
                respond(v2Readiness()); return nil
            },
            Route(model, ["GET"], authenticated: true) { [self] _, respond in
                respond(kserveMetadata()); return nil
            },
            Route(model + "/infer", ["POST"], authenticated: true) { [self] r, respond in kserveInfer(r, respond: respond) },
        ]
    }

    func v2Readiness() -> HTTPResponse { isReady ? .json(200, Array("{\"ready\":true}".utf8)) : Self.v2Error(503, "not ready") }

    func kserveMetadata() -> HTTPResponse {
        var w = JSONWriter()
        w.raw(
            "{\"name\":\"\(Self.kserveModel)\",\"versions\":[\"1\"],\"platform\":\"ecg-affect\",\"inputs\":[{\"name\":\"ecg\",\"datatype\":\"FP32\",\"shape\":[-1,-1]},{\"name\":\"baseline\",\"datatype\":\"FP32\",\"shape\":[-1],\"optional\":true}],\"outputs\":["
        )
        for (i, o) in kserveOutputs.enumerated() {
            if i > 0 { w.raw(",") }
            let type = o.name.hasPrefix("window_") ? "INT32" : "FP32"
            w.raw("{\"name\":"); w.string(o.name); w.raw(",\"datatype\":\"\(type)\",\"shape\":[\(o.shape.map(String.init).joined(separator: ","))]}")
        }
        w.raw("],\"parameters\":{\"encoder_sha256\":"); w.string(manifest.encoder.sha256); w.raw("}}")
        return .json(200, w.out)
    }

    private struct V2Request {
        var id: String?
        var input: InferenceRequest
        /// Requested outputs (nil: all) and whether each is binary.
        var outputs: [(String, Bool)]?
        var binaryByDefault: Bool
    }

    private func parseV2(_ r: HTTPRequest) throws -> V2Request {
        let body = try decodeBody(r)
        var jsonLength = body.count
        if let h = r.header("inference-header-content-length") {
            guard let n = Int(h), n >= 0, n <= body.count else {
                throw HTTPError(.badRequest, "Inference-Header-Content-Length \(h) does not fit the body (\(body.count) bytes)")
            }
            jsonLength = n
        }
        let j: JSON
        do { j = try JSONParser.parse(Array(body[0..<jsonLength])) } catch let e as JSONError {
            throw HTTPError(.badJson, "invalid JSON at byte \(e.offset): \(e.message)")
        }
        guard case .object = j else { throw HTTPError.bad("the inference request must be a JSON object") }
        var id: String?
        if let v = j["id"] { guard case let .string(s) = v else { throw HTTPError.bad("'id' must be a string") }; id = s }
        // Request parameters: fs, preprocessed, binary_data_output.
        var fs: Double?, pre = false, binaryAll = false, baselineFs: Double?
        if let p = j["parameters"] {
            guard case let .object(kv) = p else { throw HTTPError.bad("'parameters' must be an object") }
            for (k, v) in kv {
                switch (k, v) {
                case let ("fs", .number(x)): fs = x
                case let ("preprocessed", .bool(b)): pre = b
                case let ("binary_data_output", .bool(b)): binaryAll = b
                case let ("baseline_fs", .number(x)): baselineFs = x
                case ("fs", _), ("preprocessed", _), ("binary_data_output", _), ("baseline_fs", _):
                    throw HTTPError.bad("parameter '\(k)' has the wrong type (fs, baseline_fs: number; preprocessed, binary_data_output: bool)")
                default: break  // other parameters (e.g. tracing) are ignored
                }
            }
        }
        guard case let .array(inputs)? = j["inputs"], (1...2).contains(inputs.count) else {
            throw HTTPError.bad("'inputs' must hold the tensor 'ecg' and optionally 'baseline'")
        }
        // Binary tensor data follows the JSON header in the order of the inputs.
        var offset = jsonLength
        func tensor(_ inp: JSON, _ name: String) throws -> (values: [Double], shape: [Int]) {
            guard case let .string(dtype)? = inp["datatype"], dtype == "FP32" || dtype == "FP64" else {
                throw HTTPError.bad("input '\(name)' must be FP32 or FP64")
            }
            let shape: [Int]
            switch inp["shape"] {
            case let .numbers(a)?:
                guard a.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 < 1e12 }), (1...2).contains(a.count) else {
                    throw HTTPError.bad("input '\(name)' shape must be [samples] or [recordings, samples] of whole numbers")
                }
                shape = a.map { Int($0) }
            default: throw HTTPError.bad("input '\(name)' needs a shape")
            }
            var count = 1
            for d in shape {
                let (m, over) = count.multipliedReportingOverflow(by: d)
                guard !over, m <= limits.maxBodyBytes else { throw HTTPError.bad("input '\(name)' shape \(shape) is larger than a request may carry") }
                count = m
            }
            guard count > 0 else { throw HTTPError.bad("input '\(name)' is empty") }
            var values: [Double]
            if case let .object(kv)? = inp["parameters"], let size = kv.first(where: { $0.0 == "binary_data_size" })?.1 {
                guard case let .number(n) = size, n >= 0, n < 1e15, Int(n) == count * (dtype == "FP64" ? 8 : 4), offset + Int(n) <= body.count else {
                    throw HTTPError.bad("binary_data_size of '\(name)' must be \(count) × \(dtype == "FP64" ? 8 : 4) bytes and present after the JSON header")
                }
                let at = offset
                values = body[at..<(at + Int(n))].withUnsafeBytes { raw in
                    dtype == "FP64"
                        ? (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
                        : (0..<count).map { Double(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self)) }
                }
                offset += Int(n)
            } else {
                guard let d = inp["data"] else { throw HTTPError.bad("input '\(name)' needs 'data' or binary data") }
                values = []
                func flatten(_ v: JSON) throws {
                    switch v {
                    case let .numbers(a): values.append(contentsOf: a)
                    case let .array(a): for e in a { try flatten(e) }
                    default: throw HTTPError.bad("input '\(name)' data must be numbers")
                    }
                }
                try flatten(d)
                guard values.count == count else { throw HTTPError.bad("input '\(name)' has \(values.count) values for shape \(shape)") }
            }
            return (values, shape)
        }
        var ecgTensor: (values: [Double], shape: [Int])?, baselineTensor: [Double]?
        for inp in inputs {
            switch inp["name"] {
            case .string("ecg")? where ecgTensor == nil: ecgTensor = try tensor(inp, "ecg")
            case .string("baseline")? where baselineTensor == nil:
                let t = try tensor(inp, "baseline")
                guard t.shape.count == 1 else { throw HTTPError.bad("input 'baseline' must have shape [samples] (one resting recording)") }
                baselineTensor = t.values
            default: throw HTTPError.bad("the inputs must be 'ecg' and optionally 'baseline', each once")
            }
        }
        guard let (values, shape) = ecgTensor else { throw HTTPError.bad("the input tensor 'ecg' is missing") }
        let rows = shape.count == 2 ? shape[0] : 1, n = shape.last!
        let recs = (0..<rows).map { Array(values[($0 * n)..<(($0 + 1) * n)]) }
        // Requested outputs.
        var outputs: [(String, Bool)]?
        if case let .array(os)? = j["outputs"] {
            outputs = try os.map { o in
                guard case let .string(name)? = o["name"], kserveOutputs.contains(where: { $0.name == name }) else {
                    throw HTTPError.bad("unknown output; this model has \(kserveOutputs.map(\.name).joined(separator: ", "))")
                }
                var bin = binaryAll
                if case let .object(kv)? = o["parameters"], let b = kv.first(where: { $0.0 == "binary_data" })?.1, case let .bool(x) = b { bin = x }
                return (name, bin)
            }
        }
        var input = try checked(recs, fs: fs, preprocessed: pre, how: "the request parameter \"fs\": 500")
        if let b = baselineTensor {
            guard let bfs = baselineFs ?? fs else {
                throw HTTPError(.missingFs, "the baseline's sampling rate is required: the request parameter \"baseline_fs\" (or \"fs\")")
            }
            input.baseline = try checkedBaseline(b, fs: bfs)
        }
        return V2Request(id: id, input: input, outputs: outputs, binaryByDefault: binaryAll)
    }

    private func kserveInfer(_ r: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let req: V2Request
        var reservation: [Reservation] = []
        do {
            if !isWarmed { throw HTTPError(.notReady, "not ready", headers: [("Retry-After", "1")]) }
            guard let first = memory.reserve(MemoryBudget.estimate(bodyBytes: r.body.count, json: true, samplesAt256: 0)) else { throw Self.memoryBusy() }
            req = try parseV2(r)
            guard memory.grow(first, by: MemoryBudget.estimate(bodyBytes: 0, json: true, samplesAt256: req.input.samplesAt256)) else { throw Self.memoryBusy() }
            reservation = [first]
        } catch let e as HTTPError {
            respond(Self.v2Error(e)); return nil
        } catch {
            respond(Self.v2Error(500, "\(error)")); return nil
        }
        let wanted = req.outputs ?? kserveOutputs.map { ($0.name, req.binaryByDefault) }
        return submit(req.input, held: reservation, render: { Self.v2Error($0) }, respond: respond) { [self] c in
            let (e, spans) = (c.embeddings, c.spans)
            let n = spans.count
            let served = engine.servedHeads(baseline: c.baseline != nil)
            var w = JSONWriter()
            var binary: [UInt8] = []
            w.raw("{\"model_name\":\"\(Self.kserveModel)\",\"model_version\":\"1\"")
            if let id = req.id { w.raw(",\"id\":"); w.string(id) }
            w.raw(",\"outputs\":[")
            for (k, (name, bin)) in wanted.enumerated() {
                if k > 0 { w.raw(",") }
                var floats: [Float]?, ints: [Int32]?, shape = [n]
                switch name {
                case "embedding": floats = e; shape = [n, EncoderGeometry.embeddingSize]
                case "window_recording": ints = spans.map { Int32($0.recording) }
                case "window_start_s": ints = spans.map { Int32($0.start) }
                case "window_quality": ints = spans.map(\.quality.code)
                default:
                    // A window a head does not score (unusable) is NaN: tensors have no null.
                    let h = served.first { $0.name == name } ?? heads.first { $0.name == name }!
                    let l = h.labels.count
                    floats = engine.probabilities(h, c).flatMap { $0 ?? [Float](repeating: .nan, count: l) }; shape = [n, l]
                }
                w.raw("{\"name\":"); w.string(name);
                w.raw(",\"datatype\":\"\(floats != nil ? "FP32" : "INT32")\",\"shape\":[\(shape.map(String.init).joined(separator: ","))]")
                if bin {
                    let bytes: [UInt8] = floats.map { f in f.withUnsafeBytes { Array($0) } } ?? ints!.withUnsafeBytes { Array($0) }
                    w.raw(",\"parameters\":{\"binary_data_size\":\(bytes.count)}}")
                    binary += bytes
                } else {
                    w.raw(",\"data\":[")
                    if let f = floats {
                        for (i, v) in f.enumerated() { if i > 0 { w.raw(",") }; w.float(v) }
                    } else {
                        w.raw(ints!.map(String.init).joined(separator: ","))
                    }
                    w.raw("]}")
                }
            }
            w.raw("]}")
            if binary.isEmpty { return .json(200, w.out) }
            return HTTPResponse(
                status: 200, headers: [("Content-Type", "application/octet-stream"), ("Inference-Header-Content-Length", String(w.out.count))],
                body: w.out + binary)
        }
    }
}
