import Dispatch
import Foundation
import HTTP
import Model
import Inference
import NPY

/// Answers: content negotiation, the JSON and npy bodies of /embed and /classify.
extension ECGService {

    /// Content negotiation (RFC 9110 §12.5.1): npy when application/x-npy has a q-value
    /// above 0 and not below that of application/json (or of a wildcard covering it).
    static func prefersNPY(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var npy = 0.0, json = 0.0, wildcard = -1.0
        for item in accept.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = parts.first else { continue }
            var q = 1.0
            for p in parts.dropFirst() where p.hasPrefix("q=") { q = Double(p.dropFirst(2)) ?? 0 }
            switch type {
            case "application/x-npy": npy = max(npy, q)
            case "application/json": json = max(json, q)
            case "*/*", "application/*": wildcard = max(wildcard, q)
            default: break
            }
        }
        if json == 0 && wildcard > 0 && !accept.lowercased().contains("application/json") { json = wildcard }
        return npy > 0 && npy >= json
    }

    /// What each recording gave: its windows and the seconds at its end that did not fill one.
    func remaindersJSON(_ w: inout JSONWriter, _ prepared: [(Preprocessing.Prepared, Int)]) {
        w.raw("\"remainders\":[")
        for (k, (p, i)) in prepared.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{\"recording\":\(i),\"windows\":\(p.count),\"remainder_s\":"); w.double((p.remainderSeconds * 1000).rounded() / 1000); w.raw("}")
        }
        w.raw("]")
    }

    static func windowsJSON(_ w: inout JSONWriter, _ spans: [Span]) {
        w.raw("\"windows\":[")
        for (k, s) in spans.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{\"recording\":\(s.recording),\"start_s\":\(Int(s.start)),\"quality\":"); w.string(s.quality.rawValue); w.raw("}")
        }
        w.raw("]")
    }

    func embedResponse(_ e: [Float], spans: [Span], prepared: [(Preprocessing.Prepared, Int)], npy: Bool) -> HTTPResponse {
        if npy {
            // The metadata of the JSON answer, in headers: row k of the array is window k.
            let rem = prepared.map { p, i in "\(i):\(p.count):\((p.remainderSeconds * 1000).rounded() / 1000)" }.joined(separator: ",")
            return HTTPResponse(
                status: 200,
                headers: [
                    ("Content-Type", "application/x-npy"), ("X-Model", manifest.encoder.sha256),
                    ("X-Window-Recordings", spans.map { String($0.recording) }.joined(separator: ",")),
                    ("X-Window-Starts", spans.map { String(Int($0.start)) }.joined(separator: ",")),
                    ("X-Window-Quality", spans.map(\.quality.rawValue).joined(separator: ",")),
                    ("X-Remainders", rem),
                ], body: NPY.encode(NPYArray(floats: e, shape: [spans.count, EncoderGeometry.embeddingSize])))
        }
        var w = JSONWriter()
        w.out.reserveCapacity(spans.count * EncoderGeometry.embeddingSize * 12 + 256)
        w.raw("{\"model\":"); w.string(manifest.encoder.sha256); w.raw(",\"embeddings\":[")
        for k in 0..<spans.count { if k > 0 { w.raw(",") }; w.floats(e[(k * EncoderGeometry.embeddingSize)..<((k + 1) * EncoderGeometry.embeddingSize)]) }
        w.raw("],")
        Self.windowsJSON(&w, spans)
        w.raw(",")
        remaindersJSON(&w, prepared)
        w.raw("}")
        return .json(200, w.out)
    }

    func classifyResponse(_ computed: Computed) -> HTTPResponse {
        let (spans, prepared) = (computed.spans, computed.prepared)
        let heads = engine.servedHeads(baseline: computed.baseline != nil)
        var w = JSONWriter()
        w.raw("{\"model\":"); w.string(manifest.encoder.sha256); w.raw(",\"heads\":{")
        var probs: [[[Float]?]] = []
        for (hi, h) in heads.enumerated() {
            let p = engine.probabilities(h, computed)
            probs.append(p)
            if hi > 0 { w.raw(",") }
            w.string(h.name); w.raw(":{\"labels\":[")
            for (li, l) in h.labels.enumerated() { if li > 0 { w.raw(",") }; w.string(l) }
            w.raw("],\"multi_label\":\(h.multiLabel),\"relative_to_baseline\":\(h.needsBaseline),\"probabilities\":[")
            for k in 0..<spans.count {
                if k > 0 { w.raw(",") }
                if let row = p[k] { w.floats(row[...]) } else { w.raw("null") }
            }
            w.raw("]}")
        }
        w.raw("},")
        Self.windowsJSON(&w, spans)
        w.raw(",\"recordings\":[")
        // Per recording. Affect heads: the label with the highest mean probability over the
        // windows whose quality is not "unusable" (none: label and probability null).
        // Multi-label heads: the mean of each independent probability over all windows.
        var first = 0
        for (k, (p, _)) in prepared.enumerated() {
            if k > 0 { w.raw(",") }
            w.raw("{")
            for (hi, h) in heads.enumerated() {
                let c = h.labels.count
                let used = (first..<(first + p.count)).filter { probs[hi][$0] != nil && (h.multiLabel || spans[$0].quality.isUsable) }
                var mean = [Double](repeating: 0, count: c)
                for win in used { for j in 0..<c { mean[j] += Double(probs[hi][win]![j]) / Double(used.count) } }
                if hi > 0 { w.raw(",") }
                w.string(h.name); w.raw(":{\"windows_used\":\(used.count),")
                if h.multiLabel {
                    w.raw("\"probabilities\":"); w.floats(mean.map(Float.init)[...])
                } else if used.isEmpty {
                    w.raw("\"label\":null,\"probability\":null")
                } else {
                    let best = mean.indices.max { mean[$0] < mean[$1] }!
                    w.raw("\"label\":"); w.string(h.labels[best]); w.raw(",\"probability\":"); w.float(Float(mean[best]))
                }
                w.raw("}")
            }
            w.raw("}")
            first += p.count
        }
        w.raw("],")
        if let b = computed.baseline {
            w.raw("\"baseline\":{\"windows\":\(b.windows.count),\"windows_used\":\(b.usable),\"heart_rate_bpm\":")
            Self.optional(&w, b.heartRate); w.raw("},")
        }
        remaindersJSON(&w, prepared)
        w.raw("}")
        return .json(200, w.out)
    }
}
