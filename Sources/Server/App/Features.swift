import Dispatch
import Foundation
import HTTP
import Inference
import Model

extension ECGService {
    /// POST /features: R peaks of each recording (sample indices at the input's own rate)
    /// and, per consecutive 10 s window, heart rate, SDNN, RMSSD, beats and a quality
    /// label — the same grade /embed and /classify give the window (computed on the
    /// preprocessed window). Same bodies as /embed; computed by an inference worker.
    func features(_ r: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let input: InferenceRequest
        do {
            let body = try decodeBody(r)
            input = try decodeInput(r, body)
            try InferenceEngine.checkForFeatures(input)
        } catch let e as HTTPError {
            respond(.error(e)); return nil
        } catch let e as InferenceError {
            respond(.error(HTTPError(e))); return nil
        } catch {
            respond(.error(HTTPError(.`internal`, "\(error)"))); return nil
        }
        // On an inference worker, within the core budget, like /embed's preprocessing.
        let accepted = queue.submitTask { [engine] in
            let result = engine.features(input)
            var w = JSONWriter()
            w.raw("{\"detector\":"); w.string(RPeaks.name); w.raw(",\"fs\":"); w.double(input.fs); w.raw(",\"r_peaks\":[")
            for (i, peaks) in result.peaks.enumerated() {
                if i > 0 { w.raw(",") }
                w.raw("["); w.raw(peaks.map(String.init).joined(separator: ",")); w.raw("]")
            }
            w.raw("],\"windows\":[")
            for (k, (rec, start, f)) in result.windows.enumerated() {
                if k > 0 { w.raw(",") }
                w.raw("{\"recording\":\(rec),\"start_s\":\(start),\"beats\":\(f.beats),\"heart_rate_bpm\":")
                Self.optional(&w, f.heartRate); w.raw(",\"sdnn_ms\":"); Self.optional(&w, f.sdnn)
                w.raw(",\"rmssd_ms\":"); Self.optional(&w, f.rmssd); w.raw(",\"quality\":"); w.string(f.quality.rawValue); w.raw("}")
            }
            w.raw("]}")
            var resp = HTTPResponse.json(200, w.out)
            resp.annotations[Self.windowsAnnotation] = result.windows.count
            respond(resp)
        }
        if !accepted { respond(.error(HTTPError(InferenceError(.overloaded, "inference queue is full; retry shortly")))) }
        return nil
    }

    static func optional(_ w: inout JSONWriter, _ v: Double?) {
        if let v, v.isFinite { w.double((v * 1000).rounded() / 1000) } else { w.raw("null") }
    }
}
