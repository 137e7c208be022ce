import Foundation

/// R-peak detection after Pan & Tompkins, "A Real-Time QRS Detection Algorithm",
/// IEEE Trans. Biomed. Eng. 32(3):230–236 (1985), at the recording's own rate:
///
/// 1. band-pass 5–15 Hz (2nd-order Butterworth low- and high-pass, run forwards and
///    backwards so the result has no delay);
/// 2. five-point derivative, squaring, moving-window integration over 150 ms;
/// 3. the peaks of the integrated signal are classified with the paper's adaptive
///    thresholds (signal and noise levels SPKI/NPKI, THRESHOLD1 = NPKI + ¼(SPKI − NPKI)),
///    a 200 ms refractory period, T-wave discrimination (a candidate within 360 ms of the
///    previous beat whose steepest slope is under half of that beat's is a T wave), and
///    search-back with THRESHOLD2 = ½ THRESHOLD1 when no beat came for 166 % of the mean
///    of the last 8 RR intervals;
/// 4. each beat is placed at the largest absolute band-passed value within ±100 ms
///    of its integrated peak, then at the extreme of the 0.5 Hz high-passed signal within
///    ±40 ms of that (the R peak's sample).
///
/// Validated against the MIT-BIH Arrhythmia Database reference annotations (tests).
public enum RPeaks {
    public static let name = "pan-tompkins-1985"

    /// Sample indices (at `fs`) of the R peaks of `x`.
    public static func detect(_ x: [Double], fs: Double) -> [Int] {
        let n = x.count
        guard n >= Int(fs), fs >= 50 else { return [] }
        // 1. band-pass, zero phase.
        var bp = Biquad.highpass(fc: 5, fs: fs).filtfilt(x)
        bp = Biquad.lowpass(fc: 15, fs: fs).filtfilt(bp)
        // 2. derivative (centred five-point), square, moving-window integration (centred).
        var sq = [Double](repeating: 0, count: n)
        for i in 2..<max(2, n - 2) {
            let d = (2 * bp[i + 2] + bp[i + 1] - bp[i - 1] - 2 * bp[i - 2]) * fs / 8
            sq[i] = d * d
        }
        let w = max(1, Int((0.150 * fs).rounded()))
        var mwi = [Double](repeating: 0, count: n)
        var acc = 0.0
        var prefix = [Double](repeating: 0, count: n + 1)
        for i in 0..<n { acc += sq[i]; prefix[i + 1] = acc }
        for i in 0..<n {
            let a = max(0, i - w / 2), b = min(n, i - w / 2 + w)
            mwi[i] = (prefix[b] - prefix[a]) / Double(w)
        }
        // Steepest slope (|derivative|) around an integrated peak, for the T-wave test.
        func slope(_ p: Int) -> Double {
            var m = 0.0
            for i in max(2, p - w)..<min(n - 2, p + 1) { m = max(m, sq[i]) }
            return m.squareRoot()
        }
        // 3. candidate peaks: local maxima of the integrated signal, at least 200 ms apart
        // (the larger one wins within the refractory period).
        let refractory = Int(0.2 * fs)
        var cands: [Int] = []
        for i in 1..<(n - 1) where mwi[i] > mwi[i - 1] && mwi[i] >= mwi[i + 1] && mwi[i] > 0 {
            if let last = cands.last, i - last < refractory {
                if mwi[i] > mwi[last] { cands[cands.count - 1] = i }
            } else {
                cands.append(i)
            }
        }
        guard !cands.isEmpty else { return [] }
        // Learning phase: the first 2 s set the initial levels.
        let learn = min(n, Int(2 * fs))
        var spki = 0.25 * (mwi[0..<learn].max() ?? 0)
        var npki = 0.5 * mwi[0..<learn].reduce(0, +) / Double(learn)
        var beats: [Int] = []
        var beatSlopes: [Double] = []
        var rr: [Int] = []
        var noise: [Int] = []  // candidates classified as noise since the last beat (for search-back)
        // A candidate within 360 ms of the last beat whose steepest slope is under half of
        // that beat's is a T wave (Pan & Tompkins); the test holds in search-back too (without
        // it, a T wave rejected here came back as a beat when the next QRS was late).
        func isTWave(_ p: Int) -> Bool {
            guard let last = beats.last else { return false }
            return Double(p - last) < 0.36 * fs && slope(p) < 0.5 * beatSlopes[beatSlopes.count - 1]
        }

        func accept(_ p: Int, searchBack: Bool) {
            if searchBack { spki = 0.25 * mwi[p] + 0.75 * spki } else { spki = 0.125 * mwi[p] + 0.875 * spki }
            if let last = beats.last { rr.append(p - last); if rr.count > 8 { rr.removeFirst() } }
            beats.append(p); beatSlopes.append(slope(p))
            noise.removeAll()
        }

        for p in cands {
            // Search-back: no beat for 166 % of the mean RR → the largest noise candidate
            // above THRESHOLD2 becomes a beat.
            if let last = beats.last, rr.count >= 2 {
                let mean = Double(rr.reduce(0, +)) / Double(rr.count)
                if Double(p - last) > 1.66 * mean {
                    let thr2 = 0.5 * (npki + 0.25 * (spki - npki))
                    if let best = noise.filter({ $0 - last >= refractory && p - $0 >= refractory && mwi[$0] > thr2 && !isTWave($0) }).max(by: {
                        mwi[$0] < mwi[$1]
                    }) {
                        accept(best, searchBack: true)
                    }
                }
            }
            let thr1 = npki + 0.25 * (spki - npki)
            guard mwi[p] > thr1 else { npki = 0.125 * mwi[p] + 0.875 * npki; noise.append(p); continue }
            if let last = beats.last {
                if p - last < refractory { continue }
                if isTWave(p) {
                    npki = 0.125 * mwi[p] + 0.875 * npki; noise.append(p); continue
                }
            }
            accept(p, searchBack: false)
        }
        // 4. place each beat on the R peak.
        let hp = Biquad.highpass(fc: 0.5, fs: fs).filtfilt(x)
        let r1 = Int(0.1 * fs), r2 = Int(0.04 * fs)
        var out: [Int] = []
        for p in beats {
            var best = p, bv = -1.0
            for i in max(0, p - r1)..<min(n, p + r1 + 1) where abs(bp[i]) > bv { bv = abs(bp[i]); best = i }
            let sign: Double = bp[best] >= 0 ? 1 : -1
            var r = best, rv = -Double.infinity
            for i in max(0, best - r2)..<min(n, best + r2 + 1) where sign * hp[i] > rv { rv = sign * hp[i]; r = i }
            if let last = out.last, r - last < refractory { continue }
            out.append(r)
        }
        return out
    }

    /// Sensitivity and positive predictivity of `detected` against `reference` (sample
    /// indices), matching one to one within `tolerance` samples.
    public static func score(detected: [Int], reference: [Int], tolerance: Int) -> (tp: Int, fn: Int, fp: Int) {
        let d = detected.sorted(), r = reference.sorted()
        var i = 0, j = 0, tp = 0
        while i < d.count && j < r.count {
            if abs(d[i] - r[j]) <= tolerance { tp += 1; i += 1; j += 1 } else if d[i] < r[j] { i += 1 } else { j += 1 }
        }
        return (tp, r.count - tp, d.count - tp)
    }
}

/// Heart rate and its variability over one stretch of a recording, with a signal-quality
/// label after Orphanidou et al., "Signal-quality indices for the electrocardiogram and
/// photoplethysmogram", IEEE J. Biomed. Health Inform. 19(3):832–838 (2015).
public struct HRVFeatures: Sendable, Equatable {
    public var beats: Int
    /// Mean heart rate, beats per minute (nil with fewer than 2 beats).
    public var heartRate: Double?
    /// Standard deviation of the RR intervals, ms (nil with fewer than 3 beats).
    public var sdnn: Double?
    /// Root mean square of successive RR differences, ms (nil with fewer than 3 beats).
    public var rmssd: Double?
    /// Mean correlation of each beat with the average beat (nil without the signal or
    /// with fewer than 2 beats).
    public var templateCorrelation: Double?
    /// bSQI: agreement of Pan & Tompkins with the second detector (`SQI.agreement`; nil
    /// without the signal).
    public var agreement: Double?
    /// kSQI: kurtosis of the stretch (`SQI.kurtosis`; nil without the signal).
    public var kurtosis: Double?
    /// good, poor or unusable (rule below).
    public var quality: SignalQuality

    /// Thresholds of the quality rule.
    public static let minAgreement = 0.8, minKurtosis = 5.0, goodCorrelation = 0.86, minCorrelation = 0.5

    /// Features of the beats in [start, end) (sample indices at `fs`); `signal` is the
    /// recording the peaks were found in (for the template correlation).
    ///
    /// Quality. "unusable" when the rhythm is not physiological: fewer than 4 beats per
    /// 10 s, mean rate outside 40–180 bpm, an RR interval of 3 s or more, or longest / shortest
    /// RR ≥ 2.2 (Orphanidou's feasibility rules); or (with the signal) when it does not look
    /// like ECG: the two detectors agree on fewer than 80 % of the beats (bSQI < 0.8), the
    /// kurtosis is under 5 (kSQI: no spiky QRS over a flat line), or the beats are unlike
    /// each other (mean correlation with the average beat under 0.5). "poor" when the beats'
    /// mean correlation with the average beat (a median-RR-wide window centred on each R
    /// peak) is below 0.86 (Orphanidou's threshold). Else "good".
    public init(peaks: [Int], fs: Double, start: Int, end: Int, signal: [Double]? = nil) {
        let p = peaks.filter { $0 >= start && $0 < end }
        beats = p.count
        let rr = zip(p.dropFirst(), p).map { Double($0 - $1) / fs * 1000 }
        heartRate = rr.isEmpty ? nil : 60_000 / (rr.reduce(0, +) / Double(rr.count))
        if rr.count >= 2 {
            let m = rr.reduce(0, +) / Double(rr.count)
            sdnn = (rr.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(rr.count - 1)).squareRoot()
            let d = zip(rr.dropFirst(), rr).map { $0 - $1 }
            rmssd = (d.map { $0 * $0 }.reduce(0, +) / Double(d.count)).squareRoot()
        }
        if let x = signal, !rr.isEmpty {
            templateCorrelation = Self.templateCorrelation(x, peaks: p, halfWidth: Int(rr.sorted()[rr.count / 2] / 1000 * fs / 2))
        }
        if let x = signal, start >= 0, end <= x.count, end - start >= Int(fs) {
            let slice = x[start..<end]
            agreement = SQI.agreement(p.map { $0 - start }, SecondDetector.detect(Array(slice), fs: fs), fs: fs) ?? 0
            kurtosis = SQI.kurtosis(slice, fs: fs) ?? 0
        }
        let seconds = Double(end - start) / fs
        if let hr = heartRate, hr >= 40, hr <= 180, Double(beats) >= 4 * seconds / 10,
            let lo = rr.min(), let hi = rr.max(), hi < 3000, hi / lo < 2.2,
            (agreement ?? 1) >= Self.minAgreement, (kurtosis ?? Self.minKurtosis) >= Self.minKurtosis,
            (templateCorrelation ?? 1) >= Self.minCorrelation
        {
            quality = (templateCorrelation ?? 1) >= Self.goodCorrelation ? .good : .poor
        } else {
            quality = .unusable
        }
    }

    /// These heart-rate features with the grade (and the indices that made it) of `g`: the
    /// beats of a whole record at its own rate, graded as the server grades the window.
    public func graded(as g: HRVFeatures) -> HRVFeatures {
        var f = self
        f.quality = g.quality; f.templateCorrelation = g.templateCorrelation; f.agreement = g.agreement; f.kurtosis = g.kurtosis
        return f
    }

    /// The features and grade of one preprocessed 256 Hz window, exactly as ecg-server grades
    /// the windows of /embed and /classify and as `ecg-train` fits heads on them.
    public static func window(_ w: ArraySlice<Float>) -> HRVFeatures {
        let x = w.map(Double.init)
        return HRVFeatures(peaks: RPeaks.detect(x, fs: Preprocessing.targetRate), fs: Preprocessing.targetRate, start: 0, end: x.count, signal: x)
    }

    /// Mean Pearson correlation of each beat (±halfWidth around its peak) with their mean.
    static func templateCorrelation(_ x: [Double], peaks: [Int], halfWidth h: Int) -> Double? {
        let beats = peaks.filter { $0 - h >= 0 && $0 + h < x.count }
        guard beats.count >= 2, h >= 2 else { return nil }
        let w = 2 * h + 1
        var t = [Double](repeating: 0, count: w)
        for p in beats { for i in 0..<w { t[i] += x[p - h + i] / Double(beats.count) } }
        func corr(_ a: ArraySlice<Double>, _ b: [Double]) -> Double {
            let ma = a.reduce(0, +) / Double(w), mb = b.reduce(0, +) / Double(w)
            var sab = 0.0, saa = 0.0, sbb = 0.0
            for (u, v) in zip(a, b) { sab += (u - ma) * (v - mb); saa += (u - ma) * (u - ma); sbb += (v - mb) * (v - mb) }
            return saa > 0 && sbb > 0 ? sab / (saa * sbb).squareRoot() : 0
        }
        return beats.map { corr(x[($0 - h)...($0 + h)], t) }.reduce(0, +) / Double(beats.count)
    }
}

/// A second-order IIR section (RBJ cookbook forms, Q = 1/√2: Butterworth).
struct Biquad {
    let b0, b1, b2, a1, a2: Double

    static func lowpass(fc: Double, fs: Double) -> Biquad {
        let w = 2 * Double.pi * min(fc, 0.45 * fs) / fs, alpha = sin(w) / (2 * 0.5.squareRoot()), c = cos(w), a0 = 1 + alpha
        return Biquad(b0: (1 - c) / 2 / a0, b1: (1 - c) / a0, b2: (1 - c) / 2 / a0, a1: -2 * c / a0, a2: (1 - alpha) / a0)
    }

    static func highpass(fc: Double, fs: Double) -> Biquad {
        let w = 2 * Double.pi * fc / fs, alpha = sin(w) / (2 * 0.5.squareRoot()), c = cos(w), a0 = 1 + alpha
        return Biquad(b0: (1 + c) / 2 / a0, b1: -(1 + c) / a0, b2: (1 + c) / 2 / a0, a1: -2 * c / a0, a2: (1 - alpha) / a0)
    }

    /// Direct form II transposed, starting from rest at the first sample's value (steady state).
    func run(_ x: [Double]) -> [Double] {
        var y = x
        filterInPlace(&y, backward: false)
        return y
    }

    /// Filters `y` in place, walking up or (backward) down, from the steady state at the first
    /// sample it meets.
    private func filterInPlace(_ y: inout [Double], backward: Bool) {
        guard let x0 = backward ? y.last : y.first else { return }
        // Steady state for a constant input x0: gain g = (b0+b1+b2)/(1+a1+a2).
        let g = (b0 + b1 + b2) / (1 + a1 + a2)
        var z1 = g * x0 - b0 * x0, z2 = b2 * x0 - a2 * g * x0
        y.withUnsafeMutableBufferPointer { y in
            for i in stride(from: backward ? y.count - 1 : 0, through: backward ? 0 : y.count - 1, by: backward ? -1 : 1) {
                let xi = y[i]
                let v = b0 * xi + z1
                z1 = b1 * xi - a1 * v + z2
                z2 = b2 * xi - a2 * v
                y[i] = v
            }
        }
    }

    /// Forwards then backwards: zero phase, squared magnitude response. The backward pass
    /// walks down the forward output in place; bit-identical to `filtfiltReference`.
    func filtfilt(_ x: [Double]) -> [Double] {
        var y = x
        filterInPlace(&y, backward: false)
        filterInPlace(&y, backward: true)
        return y
    }

    /// The plain definition of `filtfilt`: run, reverse, run, reverse.
    func filtfiltReference(_ x: [Double]) -> [Double] {
        Array(run(Array(run(x).reversed())).reversed())
    }
}
