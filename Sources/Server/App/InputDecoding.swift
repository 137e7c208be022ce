import Dispatch
import Foundation
import HTTP
import Model
import Inference
import NPY

/// Request bodies to recordings: gzip, JSON and npy decoding, the rate rules, range checks.
extension ECGService {
    func decodeBody(_ r: HTTPRequest) throws -> [UInt8] {
        guard let enc = r.header("content-encoding")?.lowercased().trimmingCharacters(in: .whitespaces), enc != "identity" else { return r.body }
        guard enc == "gzip" || enc == "x-gzip" else {
            throw HTTPError(.unsupportedEncoding, "Content-Encoding '\(enc)' is not supported (gzip or identity)")
        }
        return try gunzip(r.body, limit: limits.maxBodyBytes)
    }

    func decodeInput(_ r: HTTPRequest, _ body: [UInt8]) throws -> InferenceRequest {
        if let d = r.duplicateQuery.first {
            throw HTTPError(.badRequest, "query parameter '\(d)' is given more than once")
        }
        if let u = r.query.keys.sorted().first(where: { !["fs", "preprocessed"].contains($0) }) {
            throw HTTPError(.badRequest, "unknown query parameter '\(u)' (fs, preprocessed)")
        }
        let ct = (r.header("content-type") ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch ct {
        case "application/json":
            let j: JSON
            do { j = try JSONParser.parse(body) } catch let e as JSONError {
                throw HTTPError(.badJson, "invalid JSON at byte \(e.offset): \(e.message)")
            }
            guard case let .object(kv) = j else { throw HTTPError(.badRequest, "the body must be a JSON object") }
            for (k, _) in kv where !["ecg", "fs", "preprocessed", "baseline"].contains(k) {
                throw HTTPError(.badRequest, "unknown field '\(k)' (ecg, fs, preprocessed, baseline)")
            }
            for k in ["fs", "preprocessed"] where r.query[k] != nil {
                throw HTTPError(
                    .badRequest,
                    "query parameter '\(k)' is for application/x-npy bodies; with JSON put \"\(k)\" in the body")
            }
            var fs: Double?, pre = false
            if let f = j["fs"] {
                guard case let .number(v) = f else { throw HTTPError(.badRequest, "'fs' must be a number (Hz)") }
                fs = v
            }
            if let p = j["preprocessed"] {
                guard case let .bool(v) = p else { throw HTTPError(.badRequest, "'preprocessed' must be true or false") }
                pre = v
            }
            guard let ecg = j["ecg"] else { throw HTTPError(.badRequest, "missing field 'ecg'") }
            var recs: [[Double]]
            switch ecg {
            case let .numbers(a): recs = a.isEmpty ? [] : [a]
            case let .array(items):
                recs = try items.enumerated().map { i, it in
                    guard case let .numbers(a) = it else {
                        throw HTTPError(.badRequest, "'ecg' must be an array of numbers or an array of arrays of numbers (item \(i) is not)")
                    }
                    return a
                }
            default: throw HTTPError(.badRequest, "'ecg' must be an array of numbers or an array of arrays of numbers")
            }
            var input = try checked(recs, fs: fs, preprocessed: pre, how: "\"fs\": 500 in the body")
            if let b = j["baseline"] {
                guard case let .object(bkv) = b else {
                    throw HTTPError(.badRequest, "'baseline' must be an object: {\"ecg\": [...], \"fs\": 500}")
                }
                for (k, _) in bkv where !["ecg", "fs"].contains(k) {
                    throw HTTPError(.badRequest, "unknown field 'baseline.\(k)' (ecg, fs)")
                }
                guard case let .numbers(samples)? = b["ecg"], !samples.isEmpty else {
                    throw HTTPError(.badRequest, "'baseline.ecg' must be a non-empty array of numbers (one resting recording)")
                }
                guard case let .number(bfs)? = b["fs"] else {
                    throw HTTPError(.missingFs, "'baseline.fs' is required: the baseline's sampling rate in Hz")
                }
                input.baseline = try checkedBaseline(samples, fs: bfs)
            }
            return input
        case "application/x-npy":
            // Refuse by size from the header and the rate, before decoding or widening.
            if let (_, shape) = try? NPY.declared(body), (1...2).contains(shape.count),
                let f = r.query["fs"].flatMap(Self.decimal), let (up, down) = Preprocessing.ratio(from: f)
            {
                let rows = shape.count == 2 ? shape[0] : 1, n = shape.last!
                try refuseTooManyWindows(rows: rows, samples: n, up: up, down: down)
            }
            let a: NPYArray
            do { a = try NPY.decode(body) } catch let e as NPYError {
                throw HTTPError(.badNpy, "invalid .npy body: \(e)")
            }
            guard a.dtype != .b1 else { throw HTTPError(.badDtype, "a bool array is not an ECG") }
            let d = a.doubles()
            var recs: [[Double]]
            switch a.shape.count {
            case 1: recs = d.isEmpty ? [] : [d]
            case 2:
                let n = a.shape[1]
                recs = (0..<a.shape[0]).map { Array(d[($0 * n)..<(($0 + 1) * n)]) }
            default: throw HTTPError(.badShape, ".npy must be 1-D (one recording) or 2-D (rows are recordings); got shape \(a.shape)")
            }
            var fs: Double?, pre = false
            if let f = r.query["fs"] {
                guard let v = Self.decimal(f) else {
                    throw HTTPError(.badRequest, "query parameter fs must be a decimal number of Hz, e.g. ?fs=500 (got '\(f)')")
                }
                fs = v
            }
            if let p = r.query["preprocessed"] {
                switch p.lowercased() {
                case "true", "1": pre = true
                case "false", "0": pre = false
                default: throw HTTPError(.badRequest, "query parameter preprocessed must be true or false")
                }
            }
            return try checked(recs, fs: fs, preprocessed: pre, how: "?fs=500 in the URL")
        case "":
            throw HTTPError(.unsupportedMediaType, "Content-Type is required: application/json or application/x-npy")
        default:
            throw HTTPError(.unsupportedMediaType, "Content-Type '\(ct)' is not supported (application/json or application/x-npy)")
        }
    }

    /// A plain decimal (digits and at most one point), or nil: Double("0x1F4") would read
    /// hexadecimal as 500 Hz, and "inf" or "1e3" are not what a rate in a URL looks like.
    static func decimal(_ s: String) -> Double? {
        guard !s.isEmpty, s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }), s.utf8.filter({ $0 == 0x2E }).count <= 1,
            let v = Double(s), v.isFinite
        else { return nil }
        return v
    }

    /// Largest sample magnitude accepted. Any unit fits (ADC counts, mV, µV); beyond it the
    /// float32 network would overflow.
    static let maxSampleMagnitude = 1e15

    /// The sampling-rate rule: raw recordings need their rate; preprocessed windows are 256 Hz.
    func checked(_ recs: [[Double]], fs: Double?, preprocessed: Bool, how: String) throws -> InferenceRequest {
        let rate: Double
        switch (fs, preprocessed) {
        case let (f?, _): rate = f
        case (nil, true): rate = Preprocessing.targetRate
        case (nil, false):
            throw HTTPError(.missingFs, "the sampling rate is required for raw recordings: send \(how) (or preprocessed: true for 256 Hz windows)")
        }
        return try checked(InferenceRequest(recordings: recs, fs: rate, preprocessed: preprocessed))
    }

    /// The baseline's own checks (its length is checked after the others, in `prepareBaseline`).
    func checkedBaseline(_ samples: [Double], fs: Double) throws -> InferenceRequest.Baseline {
        if let bad = samples.firstIndex(where: { !$0.isFinite }) {
            throw HTTPError(.nonFinite, "baseline: sample \(bad) is NaN or infinite")
        }
        if let bad = samples.firstIndex(where: { abs($0) > Self.maxSampleMagnitude }) {
            throw HTTPError(.outOfRange, "baseline: sample \(bad) is \(samples[bad]); samples must be within ±1e15")
        }
        guard Preprocessing.ratio(from: fs) != nil else { throw HTTPError(.badFs, "baseline fs \(fs) Hz is out of range (50 Hz to 10 kHz)") }
        return InferenceRequest.Baseline(samples: samples, fs: fs)
    }

    /// 413 too_many_windows when `rows` recordings of `samples` each would give more than
    /// --max-windows windows at 256 Hz: decided from sizes alone, before any resampling.
    func refuseTooManyWindows(rows: Int, samples: Int, up: Int, down: Int) throws {
        let (m, over) = samples.multipliedReportingOverflow(by: up)
        let perRecording = over ? Int.max : (m / down) / EncoderGeometry.windowLength
        let (total, over2) = perRecording.multipliedReportingOverflow(by: rows)
        if over2 || total > config.maxWindows {
            throw HTTPError(
                .tooManyWindows,
                "\(rows) recording(s) of \(samples) samples at this rate make more than \(config.maxWindows) windows of 10 s (the limit per request)")
        }
    }

    func checked(_ i: InferenceRequest) throws -> InferenceRequest {
        guard !i.recordings.isEmpty else { throw HTTPError(.empty, "'ecg' holds no samples") }
        for (k, rec) in i.recordings.enumerated() {
            if let bad = rec.firstIndex(where: { $0.isFinite && abs($0) > Self.maxSampleMagnitude }) {
                throw HTTPError(.outOfRange, "recording \(k): sample \(bad) is \(rec[bad]); samples must be within ±1e15")
            }
        }
        guard i.recordings.count <= config.maxRecordings else {
            throw HTTPError(.tooManyRecordings, "more than \(config.maxRecordings) recordings in one request")
        }
        if let e = i.recordings.firstIndex(where: { $0.isEmpty }) { throw HTTPError(.empty, "recording \(e) is empty") }
        guard let (up, down) = Preprocessing.ratio(from: i.fs) else { throw HTTPError(.badFs, "fs \(i.fs) Hz is out of range (50 Hz to 10 kHz)") }
        // Every recording's windows counted from its length and the rate, before resampling.
        var total = 0
        for rec in i.recordings {
            let (m, over) = rec.count.multipliedReportingOverflow(by: up)
            total += over ? Int.max / 2 : (m / down) / EncoderGeometry.windowLength
            if total > config.maxWindows {
                throw HTTPError(.tooManyWindows, "more than \(config.maxWindows) windows of 10 s in one request (counted before preprocessing)")
            }
        }
        if i.preprocessed && i.fs != EncoderGeometry.sampleRate { throw HTTPError(.badFs, "with preprocessed: true, fs must be 256") }
        return i
    }
}
