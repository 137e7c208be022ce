import Foundation

/// A window's signal-quality grade (`HRVFeatures`); its raw value is what the API answers.
public enum SignalQuality: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case good, poor, unusable
    /// Affect heads score it (not `unusable`).
    public var isUsable: Bool { self != .unusable }
    /// The Open Inference Protocol's INT32 code (0 good, 1 poor, 2 unusable).
    public var code: Int32 {
        switch self {
        case .good: 0;
        case .poor: 1;
        case .unusable: 2
        }
    }
    public var description: String { rawValue }
}

/// A second, independent QRS detector and the signal-quality indices built on it
/// (issue #17 item 5: a window is usable only if it looks like ECG).
///
/// Elgendi, Jonkman & De Boer, "Frequency bands effects on QRS detection", BIOSIGNALS 2010
/// (the "two moving averages" detector): band-pass 8–20 Hz (zero phase), square, moving
/// averages over 97 ms (QRS) and 611 ms (beat); the blocks where the QRS average exceeds the
/// beat average plus 8 % of the mean squared signal, if at least 97 ms wide, each hold one
/// beat, placed at the block's largest |band-passed| sample. It shares no stage with Pan &
/// Tompkins' thresholds, which is what the agreement index needs.
public enum SecondDetector {
    public static let name = "elgendi-2010"

    public static func detect(_ x: [Double], fs: Double) -> [Int] {
        let n = x.count
        guard n >= Int(fs), fs >= 50 else { return [] }
        var bp = Biquad.highpass(fc: 8, fs: fs).filtfilt(x)
        bp = Biquad.lowpass(fc: 20, fs: fs).filtfilt(bp)
        let y = bp.map { $0 * $0 }
        var prefix = [Double](repeating: 0, count: n + 1)
        for i in 0..<n { prefix[i + 1] = prefix[i] + y[i] }
        func ma(_ i: Int, _ w: Int) -> Double {
            let a = max(0, i - w / 2), b = min(n, i - w / 2 + w)
            return (prefix[b] - prefix[a]) / Double(max(1, b - a))
        }
        let w1 = max(1, Int((0.097 * fs).rounded())), w2 = max(1, Int((0.611 * fs).rounded()))
        let offset = 0.08 * prefix[n] / Double(n)
        var peaks: [Int] = []
        var i = 0
        let refractory = Int(0.25 * fs)
        while i < n {
            guard ma(i, w1) > ma(i, w2) + offset else { i += 1; continue }
            let start = i
            while i < n && ma(i, w1) > ma(i, w2) + offset { i += 1 }
            if i - start >= w1 {
                var best = start
                for j in start..<i where abs(bp[j]) > abs(bp[best]) { best = j }
                if let last = peaks.last, best - last < refractory {
                    if abs(bp[best]) > abs(bp[last]) { peaks[peaks.count - 1] = best }
                } else {
                    peaks.append(best)
                }
            }
        }
        return peaks
    }
}

/// Signal-quality indices of one stretch of ECG (Li, Mark & Clifford, "Robust heart rate
/// estimation from multiple asynchronous noisy sources using signal quality indices and a
/// Kalman filter", Physiol. Meas. 29:15–32, 2008).
public enum SQI {
    /// bSQI: the beats two detectors agree on (within 150 ms) over all the beats either found,
    /// N_matched / (N₁ + N₂ − N_matched). 1 when they agree, near 0 on noise. Nil when neither
    /// found a beat.
    public static func agreement(_ a: [Int], _ b: [Int], fs: Double) -> Double? {
        guard !a.isEmpty || !b.isEmpty else { return nil }
        let (tp, _, _) = RPeaks.score(detected: a, reference: b, tolerance: Int(0.15 * fs))
        return Double(tp) / Double(a.count + b.count - tp)
    }

    /// kSQI: the kurtosis (Pearson, 3 for a Gaussian) of the stretch after a 1 Hz high-pass.
    /// ECG is spiky (QRS complexes over a flat line): well above 5 on clean leads; noise ≈ 3,
    /// sines 1.5, square waves 1, sawtooth 1.8, smooth pulses (PPG) about 2–3.
    public static func kurtosis(_ x: ArraySlice<Double>, fs: Double) -> Double? {
        guard x.count >= 8 else { return nil }
        let y = Biquad.highpass(fc: 1, fs: fs).filtfilt(Array(x))
        let m = y.reduce(0, +) / Double(y.count)
        var m2 = 0.0, m4 = 0.0
        for v in y { let d = (v - m) * (v - m); m2 += d; m4 += d * d }
        m2 /= Double(y.count); m4 /= Double(y.count)
        return m2 > 1e-24 ? m4 / (m2 * m2) : nil
    }
}
