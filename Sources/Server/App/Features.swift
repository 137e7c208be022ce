import Dispatch
import Foundation
import HTTP
import Model

extension ECGService {
    /// POST /features: R peaks of each recording (sample indices at the input's own rate)
    /// and, per consecutive 10 s window, heart rate, SDNN, RMSSD, beats and a quality
    /// label — the same grade /embed and /classify give the window (computed on the
    /// preprocessed window). Same bodies as /embed; computed off the connection's queue.
    func features(_ r: HTTPRequest, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)? {
        let input: Input
        do {
            let body = try decodeBody(r)
            input = try decodeInput(r, body)
            for (i, rec) in input.recordings.enumerated() {
                if let bad = rec.firstIndex(where: { !$0.isFinite }) {
                    throw HTTPError(.nonFinite, "recording \(i): sample \(bad) is NaN or infinite")
                }
                let need = Int((10 * input.fs).rounded(.up))
                guard rec.count >= need else {
                    throw HTTPError(.tooShort, "recording \(i): \(PreprocessingError.tooShort(samples: rec.count, needed: need, fs: input.fs))")
                }
            }
        } catch let e as HTTPError {
            respond(.error(e)); return nil
        } catch {
            respond(.error(HTTPError(.`internal`, "\(error)"))); return nil
        }
        DispatchQueue.global().async {
            let fs = input.fs
            let win = Int((10 * fs).rounded())
            var w = JSONWriter()
            w.raw("{\"detector\":"); w.string(RPeaks.name); w.raw(",\"fs\":"); w.double(fs); w.raw(",\"r_peaks\":[")
            var windows: [(Int, Int, HRVFeatures)] = []
            for (i, rec) in input.recordings.enumerated() {
                let peaks = RPeaks.detect(rec, fs: fs)
                if i > 0 { w.raw(",") }
                w.raw("["); w.raw(peaks.map(String.init).joined(separator: ",")); w.raw("]")
                // One grade per window: the one /embed and /classify give it (on the
                // preprocessed 256 Hz window), not a second one from the raw signal.
                let prepared = try? self.pipeline.prepare(rec, fs: fs, preprocessed: input.preprocessed)
                let n = EncoderGeometry.windowLength
                for k in 0..<(rec.count / win) {
                    // The raw signal's own indices only where the window has no preprocessed twin.
                    if let p = prepared, k < p.count {
                        let f = HRVFeatures(peaks: peaks, fs: fs, start: k * win, end: (k + 1) * win)
                        windows.append((i, k * 10, f.graded(as: HRVFeatures.window(p.windows[(k * n)..<((k + 1) * n)]))))
                    } else {
                        windows.append((i, k * 10, HRVFeatures(peaks: peaks, fs: fs, start: k * win, end: (k + 1) * win, signal: rec)))
                    }
                }
            }
            w.raw("],\"windows\":[")
            for (k, (rec, start, f)) in windows.enumerated() {
                if k > 0 { w.raw(",") }
                w.raw("{\"recording\":\(rec),\"start_s\":\(start),\"beats\":\(f.beats),\"heart_rate_bpm\":")
                Self.optional(&w, f.heartRate); w.raw(",\"sdnn_ms\":"); Self.optional(&w, f.sdnn)
                w.raw(",\"rmssd_ms\":"); Self.optional(&w, f.rmssd); w.raw(",\"quality\":"); w.string(f.quality.rawValue); w.raw("}")
            }
            w.raw("]}")
            var resp = HTTPResponse.json(200, w.out)
            resp.windows = windows.count
            respond(resp)
        }
        return nil
    }

    static func optional(_ w: inout JSONWriter, _ v: Double?) {
        if let v, v.isFinite { w.double((v * 1000).rounded() / 1000) } else { w.raw("null") }
    }
}
