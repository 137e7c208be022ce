import Sync
import Foundation

/// Errors preparing a recording for the encoder.
public enum PreprocessingError: Error, CustomStringConvertible, Equatable, Sendable {
    case badSampleRate(Double)
    case tooShort(samples: Int, needed: Int, fs: Double)
    case nonFinite(index: Int)
    case unknownFilter(String)
    case unknownNormalization(String)
    case unknownPolarity(String)

    public var description: String {
        switch self {
        case let .badSampleRate(f): return "sampling rate \(f) Hz is not supported (50 Hz to 10 kHz, at most 3 decimals)"
        case let .tooShort(n, need, fs):
            return "recording has \(n) samples at \(fs) Hz (\(String(format: "%.3f", Double(n) / fs)) s); at least 10 s (\(need) samples) are needed"
        case let .nonFinite(i): return "sample \(i) is NaN or infinite"
        case let .unknownFilter(f): return "unknown filter '\(f)' in the manifest"
        case let .unknownNormalization(n): return "unknown normalisation '\(n)' in the manifest"
        case let .unknownPolarity(p): return "unknown polarity '\(p)' in the manifest"
        }
    }
}

/// Signal preprocessing shared by the server and the trainer: resampling to 256 Hz,
/// the zero-phase high-pass, cutting into 10 s windows, and the robust z-score.
public enum Preprocessing {
    public static let targetRate = 256.0
    public static var windowLength: Int { EncoderGeometry.windowLength }
    /// Manifest names.
    public static let highpassFilter = "butterworth4-highpass-0.8Hz-zero-phase"
    /// The high-pass, a 4th-order Butterworth low-pass at 40 Hz and notches at 50 and 60 Hz
    /// (Q = 30), all zero-phase in one pass (issue #17: mains hum and out-of-band noise never
    /// reach the network; scripts/preprocessing_choice.py measured the choice).
    public static let bandFilter = "butterworth4-0.8-40Hz-notch50-60Hz-zero-phase"
    public static let windowNormalization = "window-robust-zscore"
    public static let qrsUp = "qrs-up"
    /// The beat-based rule (issue #17 item 7): turned only when QRS and T both point down.
    public static let qrsUpBeats = "qrs-t-down-beats"

    // MARK: Robust z-score

    /// Robust z-score in place: minus the mean, divided by the standard deviation of
    /// the central 95 % of the sorted samples (indices ⌊0.025 n⌋ ..< ⌈0.975 n⌉), the
    /// statistic of the authors' code. A flat window (zero spread) is only centred.
    /// - Complexity: O(n log n) for the sort.
    public static func robustZScore(_ x: UnsafeMutableBufferPointer<Float>) {
        let n = x.count
        guard n > 0 else { return }
        let (mean, sd) = robustStats(UnsafeBufferPointer(x))
        let scale = sd > 1e-12 ? 1 / sd : 1
        for i in 0..<n { x[i] = Float((Double(x[i]) - mean) * scale) }
    }

    /// (mean of all samples, std of the central 95 % of the sorted samples).
    /// The central ranks ⌊0.025 n⌋ ..< ⌈0.975 n⌉ are found by selection, not by sorting:
    /// two introselect passes on a scratch copy put exactly those ranks (as a multiset)
    /// between the two cut points. Agrees with `robustStatsReference` (the sort) to double
    /// rounding; test "robust statistics: selection = sort".
    /// - Complexity: O(n) expected, O(n log n) worst case (introselect falls back to a sort).
    public static func robustStats(_ x: UnsafeBufferPointer<Float>) -> (mean: Double, sd: Double) {
        let n = x.count
        guard n > 0 else { return (0, 0) }
        var mean = 0.0
        for v in x { mean += Double(v) }
        mean /= Double(n)
        let central = centralRanks(n), lo = central.lowerBound, hi = central.upperBound
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { scratch.deallocate() }
        _ = scratch.initialize(fromContentsOf: x)
        Selection.select(scratch, rank: lo, in: 0..<n)
        if hi - 1 > lo { Selection.select(scratch, rank: hi - 1, in: (lo + 1)..<n) }
        var m2 = 0.0
        for i in lo..<hi { m2 += Double(scratch[i]) }
        m2 /= Double(hi - lo)
        var s = 0.0
        for i in lo..<hi { let d = Double(scratch[i]) - m2; s += d * d }
        return (mean, (s / Double(hi - lo)).squareRoot())
    }

    /// The central 95 % of n sorted samples: ranks ⌊0.025 n⌋ ..< ⌈0.975 n⌉ (at least one).
    static func centralRanks(_ n: Int) -> Range<Int> {
        let lo = Int((Double(n) * 0.025).rounded(.down))
        return lo..<min(n, max(lo + 1, Int((Double(n) * 0.975).rounded(.up))))
    }

    /// The plain definition of `robustStats`: sort, take the central ranks.
    public static func robustStatsReference(_ x: UnsafeBufferPointer<Float>) -> (mean: Double, sd: Double) {
        let n = x.count
        var mean = 0.0
        for v in x { mean += Double(v) }
        mean /= Double(n)
        let sorted = x.sorted()
        let central = centralRanks(n), lo = central.lowerBound, hi = central.upperBound
        let mid = sorted[lo..<hi]
        var m2 = 0.0
        for v in mid { m2 += Double(v) }
        m2 /= Double(mid.count)
        var s = 0.0
        for v in mid { s += (Double(v) - m2) * (Double(v) - m2) }
        return (mean, (s / Double(mid.count)).squareRoot())
    }

    // MARK: Resampling (polyphase, as scipy.signal.resample_poly)

    /// The up/down factors that take `fs` to 256 Hz, or nil if `fs` is outside 50 Hz…10 kHz.
    /// Exact when fs is a whole number of mHz whose ratio to 256 Hz reduces to factors of
    /// at most 50,000 (every common rate: 128, 250, 360, 500, 1000, 249.89 …). Any other
    /// rate (333.333, 257.123 …) gets the closest ratio with factors of at most 2,000 (best
    /// rational approximation by continued fractions; its relative error is below 1e-6,
    /// i.e. a 10 s window is off by less than 10 µs).
    public static func ratio(from fs: Double) -> (up: Int, down: Int)? {
        guard fs.isFinite, fs >= 50, fs <= 10_000 else { return nil }
        let milli = (fs * 1000).rounded()
        if abs(milli - fs * 1000) < 1e-6 {
            var up = 256_000, down = Int(milli)
            let g = gcd(up, down)
            up /= g; down /= g
            if max(up, down) <= 50_000 { return (up, down) }
        }
        return bestRatio(targetRate / fs, limit: 2_000)
    }

    /// The fraction p/q closest to x with p, q ≤ limit (continued-fraction convergents and
    /// the best semiconvergent).
    static func bestRatio(_ x: Double, limit: Int) -> (up: Int, down: Int) {
        var (p0, q0, p1, q1) = (0, 1, 1, 0)
        var v = x
        var best = (Int(x.rounded()).clamped(1, limit), 1)
        for _ in 0..<64 {
            let a = Int(v.rounded(.down))
            let (p2, q2) = (a * p1 + p0, a * q1 + q0)
            if p2 > limit || q2 > limit {
                // Largest semiconvergent within the limit.
                let k = min(p1 > 0 ? (limit - p0) / p1 : Int.max, q1 > 0 ? (limit - q0) / q1 : Int.max)
                let (ps, qs) = (k * p1 + p0, k * q1 + q0)
                let cand = [(p1, q1), (ps, qs)].filter { $0.0 >= 1 && $0.1 >= 1 && $0.0 <= limit && $0.1 <= limit }
                if let c = cand.min(by: { abs(Double($0.0) / Double($0.1) - x) < abs(Double($1.0) / Double($1.1) - x) }) { best = c }
                return best
            }
            (p0, q0, p1, q1) = (p1, q1, p2, q2)
            best = (p1, q1)
            let f = v - Double(a)
            if f < 1e-12 { break }
            v = 1 / f
        }
        return best
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}

extension Int {
    fileprivate func clamped(_ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(self, lo), hi) }
}

extension Preprocessing {

    /// Polyphase resampling by up/down with a Kaiser-windowed (β = 5) sinc low-pass of
    /// 20·max(up, down) + 1 taps, zero-padded edges — scipy.signal.resample_poly's defaults,
    /// so results match it to float rounding. Output length ⌈n·up/down⌉.
    /// - Complexity: O(n_out · 20 · max(up, down) / up).
    public static func resamplePoly(_ x: [Double], up: Int, down: Int) -> [Double] {
        if up == down { return x }
        let h = resamplingFilter(up: up, down: down)
        let halfLen = 10 * max(up, down), taps = h.count
        let nIn = x.count
        let nOut = (nIn * up) / down + ((nIn * up) % down == 0 ? 0 : 1)
        let nPrePad = down - halfLen % down
        let nPreRemove = (halfLen + nPrePad) / down
        // y[n] = sum_i x[i] h'[n·down − i·up], h' = h delayed by nPrePad.
        var y = [Double](repeating: 0, count: nOut)
        for o in 0..<nOut {
            let n = o + nPreRemove
            let pos = n * down - nPrePad  // index into h of i = 0
            // need 0 <= pos - i·up < taps  →  i in (pos - taps, pos] / up
            var iLo = pos - taps + 1
            iLo = iLo <= 0 ? 0 : (iLo + up - 1) / up
            let iHi = min(nIn - 1, pos >= 0 ? pos / up : -1)
            if iHi < iLo { continue }
            var s = 0.0
            for i in iLo...iHi { s += x[i] * h[pos - i * up] }
            y[o] = s
        }
        return y
    }

    /// firwin(20·max(up, down) + 1, 1/max(up, down), window=('kaiser', 5.0)) · up, as
    /// scipy's resample_poly designs it. Cached per (up, down): the server sees the same
    /// few sampling rates over and over, and a filter can have up to a million taps.
    static func resamplingFilter(up: Int, down: Int) -> [Double] {
        let key = up &* 1_000_003 &+ down
        if let h = filterCache.withLock({ $0[key] }) { return h }
        let maxRate = max(up, down)
        let fc = 1.0 / Double(maxRate)
        let taps = 20 * maxRate + 1
        var h = [Double](repeating: 0, count: taps)
        let i0b = besselI0(5.0)
        var sum = 0.0
        for k in 0..<taps {
            let m = Double(k) - Double(taps - 1) / 2
            let sinc = m == 0 ? 1.0 : sin(Double.pi * fc * m) / (Double.pi * fc * m)
            let r = 2 * Double(k) / Double(taps - 1) - 1
            let w = besselI0(5.0 * (max(0, 1 - r * r)).squareRoot()) / i0b
            h[k] = fc * sinc * w
            sum += h[k]
        }
        for k in 0..<taps { h[k] = h[k] / sum * Double(up) }
        filterCache.withLock { cache in
            if cache.count >= 32 { cache.removeAll() }
            cache[key] = h
        }
        return h
    }

    private static let filterCache = Locked<[Int: [Double]]>([:])

    /// Modified Bessel function of the first kind, order 0 (power series).
    static func besselI0(_ x: Double) -> Double {
        var sum = 1.0, term = 1.0
        let q = x * x / 4
        for k in 1..<200 {
            term *= q / Double(k * k)
            sum += term
            if term < sum * 1e-17 { break }
        }
        return sum
    }

    // MARK: Zero-phase Butterworth high-pass (as scipy.signal.sosfiltfilt)

    /// Second-order sections [b0, b1, b2, a0, a1, a2] of a digital Butterworth high-pass
    /// (bilinear transform with pre-warping, as scipy.signal.butter(order, fc, 'highpass', fs=fs)).
    public static func butterworthHighpass(order: Int, cutoff: Double, fs: Double) -> [[Double]] {
        let wn = cutoff / (fs / 2)
        let warped = 4 * tan(Double.pi * wn / 2)  // 2·fs'·tan(π·wn/fs') with fs' = 2
        var sections: [[Double]] = []
        // Analog low-pass prototype poles p_k = exp(iπ(2k + N + 1) / 2N), k < N; take the
        // upper-half-plane ones (and the real one for odd N).
        for k in 0..<order {
            let theta = Double.pi * Double(2 * k + order + 1) / Double(2 * order)
            let pr = cos(theta), pi = sin(theta)
            if pi < -1e-12 { continue }
            // High-pass transform: p' = warped / p.
            let d = pr * pr + pi * pi
            let hr = warped * pr / d, hi = -warped * pi / d
            // Bilinear: z = (4 + p') / (4 − p').
            let nr = 4 + hr, ni = hi, dr = 4 - hr, di = -hi
            let dd = dr * dr + di * di
            let zr = (nr * dr + ni * di) / dd, zi = (ni * dr - nr * di) / dd
            if abs(pi) <= 1e-12 {
                // Real pole: first-order section, zero at z = 1.
                sections.append([1, -1, 0, 1, -zr, 0])
            } else {
                sections.append([1, -2, 1, 1, -2 * zr, zr * zr + zi * zi])
            }
        }
        // Unit gain at Nyquist (z = −1) for a high-pass.
        var g = 1.0
        for s in sections {
            let num = s[0] - s[1] + s[2], den = s[3] - s[4] + s[5]
            g *= num / den
        }
        let gain = 1 / g
        sections[0][0] *= gain; sections[0][1] *= gain; sections[0][2] *= gain
        return sections
    }

    /// Second-order sections of a digital Butterworth low-pass (as
    /// scipy.signal.butter(order, fc, 'lowpass', fs=fs)): unit gain at DC.
    public static func butterworthLowpass(order: Int, cutoff: Double, fs: Double) -> [[Double]] {
        let wn = cutoff / (fs / 2)
        let warped = 4 * tan(Double.pi * wn / 2)
        var sections: [[Double]] = []
        for k in 0..<order {
            let theta = Double.pi * Double(2 * k + order + 1) / Double(2 * order)
            let pr = cos(theta), pi = sin(theta)
            if pi < -1e-12 { continue }
            // Low-pass transform p' = warped · p, then bilinear z = (4 + p') / (4 − p').
            let hr = warped * pr, hi = warped * pi
            let nr = 4 + hr, ni = hi, dr = 4 - hr, di = -hi
            let dd = dr * dr + di * di
            let zr = (nr * dr + ni * di) / dd, zi = (ni * dr - nr * di) / dd
            if abs(pi) <= 1e-12 {
                sections.append([1, 1, 0, 1, -zr, 0])
            } else {
                sections.append([1, 2, 1, 1, -2 * zr, zr * zr + zi * zi])
            }
        }
        var g = 1.0
        for s in sections { g *= (s[0] + s[1] + s[2]) / (s[3] + s[4] + s[5]) }
        let gain = 1 / g
        sections[0][0] *= gain; sections[0][1] *= gain; sections[0][2] *= gain
        return sections
    }

    /// A second-order IIR notch at f0 with quality factor q, as scipy.signal.iirnotch(f0, q, fs).
    public static func notch(f0: Double, q: Double, fs: Double) -> [Double] {
        let w0 = 2 * f0 / fs * Double.pi, bw = (2 * f0 / fs / q) * Double.pi
        let beta = tan(bw / 2)  // gb = 1/√2: √(1 − gb²)/gb = 1
        let gain = 1 / (1 + beta)
        return [gain, -2 * cos(w0) * gain, gain, 1, -2 * gain * cos(w0), 2 * gain - 1]
    }

    /// The sections a manifest's filter name stands for at 256 Hz (empty: no filter), or nil
    /// for an unknown name.
    public static func sections(forFilter name: String) -> [[Double]]? {
        switch name {
        case "none": return []
        case highpassFilter, "highpass-0.8Hz-zero-phase":
            return butterworthHighpass(order: 4, cutoff: 0.8, fs: targetRate)
        case bandFilter:
            return butterworthHighpass(order: 4, cutoff: 0.8, fs: targetRate)
                + butterworthLowpass(order: 4, cutoff: 40, fs: targetRate)
                + [notch(f0: 50, q: 30, fs: targetRate), notch(f0: 60, q: 30, fs: targetRate)]
        default: return nil
        }
    }

    /// Direct-form II transposed filtering through cascaded sections, with per-section
    /// initial state `zi` (n_sections × 2), which is updated.
    static func sosfilt(_ sos: [[Double]], _ x: inout [Double], zi: inout [[Double]]) {
        for (si, s) in sos.enumerated() {
            var z0 = zi[si][0], z1 = zi[si][1]
            let b0 = s[0] / s[3], b1 = s[1] / s[3], b2 = s[2] / s[3], a1 = s[4] / s[3], a2 = s[5] / s[3]
            for n in 0..<x.count {
                let xn = x[n]
                let y = b0 * xn + z0
                z0 = b1 * xn - a1 * y + z1
                z1 = b2 * xn - a2 * y
                x[n] = y
            }
            zi[si] = [z0, z1]
        }
    }

    /// Steady-state initial conditions of each section for a unit step (scipy.signal.sosfilt_zi).
    static func sosfiltZi(_ sos: [[Double]]) -> [[Double]] {
        var scale = 1.0
        return sos.map { s in
            let b0 = s[0] / s[3], b1 = s[1] / s[3], b2 = s[2] / s[3], a1 = s[4] / s[3], a2 = s[5] / s[3]
            // (I − Aᵀ) zi = B, A the companion matrix of a; B = b[1:] − a[1:]·b0.
            let B0 = b1 - a1 * b0, B1 = b2 - a2 * b0
            // [[1 + a1, −1], [a2, 1]] · [z0, z1] = [B0, B1]
            let det = (1 + a1) + a2
            let z0 = (B0 + B1) / det
            let z1 = B1 - a2 * z0
            defer { scale *= (s[0] + s[1] + s[2]) / (s[3] + s[4] + s[5]) }
            return [scale * z0, scale * z1]
        }
    }

    /// Forward-backward filtering with odd extension (scipy.signal.sosfiltfilt defaults:
    /// padtype 'odd', padlen 3·(2·sections + 1 − trailing zero coefficients)).
    /// Runs on one buffer: every section of a pass in the same loop (the sections' recursions
    /// overlap in the CPU), the backward pass walking down instead of reversing copies. The
    /// same operations in the same order per value as `sosfiltfiltReference`: bit-identical
    /// (test "zero-phase filter: fast = reference").
    public static func sosfiltfilt(_ sos: [[Double]], _ x: [Double]) -> [Double] {
        guard x.count > 1 else { return x }
        let edge = padLength(sos, count: x.count)
        let n = x.count, m = n + 2 * edge
        let ns = sos.count
        // Normalised coefficients, 5 per section, and each section's step-response state.
        var c = [Double](repeating: 0, count: 5 * ns)
        for (k, s) in sos.enumerated() {
            c[5 * k] = s[0] / s[3]; c[5 * k + 1] = s[1] / s[3]; c[5 * k + 2] = s[2] / s[3]
            c[5 * k + 3] = s[4] / s[3]; c[5 * k + 4] = s[5] / s[3]
        }
        let zi = sosfiltZi(sos).flatMap { $0 }
        var ext = [Double](repeating: 0, count: m)
        var z = [Double](repeating: 0, count: 2 * ns)
        ext.withUnsafeMutableBufferPointer { e in
            z.withUnsafeMutableBufferPointer { z in
                c.withUnsafeBufferPointer { c in
                    for i in 0..<edge { e[i] = 2 * x[0] - x[edge - i] }
                    for i in 0..<n { e[edge + i] = x[i] }
                    for i in 0..<edge { e[edge + n + i] = 2 * x[n - 1] - x[n - 2 - i] }
                    // Forward.
                    for k in 0..<(2 * ns) { z[k] = zi[k] * e[0] }
                    for t in 0..<m { e[t] = cascade(e[t], c, z, ns) }
                    // Backward (the reference reverses and filters forward).
                    for k in 0..<(2 * ns) { z[k] = zi[k] * e[m - 1] }
                    for t in stride(from: m - 1, through: 0, by: -1) { e[t] = cascade(e[t], c, z, ns) }
                }
            }
        }
        return Array(ext[edge..<(edge + n)])
    }

    /// scipy's default odd-extension length: 3·(2·sections + 1 − trailing zero coefficients),
    /// at most count − 1.
    static func padLength(_ sos: [[Double]], count: Int) -> Int {
        let zerosB = sos.filter { $0[2] == 0 }.count, zerosA = sos.filter { $0[5] == 0 }.count
        return min(3 * (2 * sos.count + 1 - min(zerosB, zerosA)), count - 1)
    }

    /// One sample through every section (direct form II transposed), states updated.
    @inline(__always)
    private static func cascade(_ v: Double, _ c: UnsafeBufferPointer<Double>, _ z: UnsafeMutableBufferPointer<Double>, _ ns: Int) -> Double {
        var xn = v
        for k in 0..<ns {
            let b0 = c[5 * k], b1 = c[5 * k + 1], b2 = c[5 * k + 2], a1 = c[5 * k + 3], a2 = c[5 * k + 4]
            let y = b0 * xn + z[2 * k]
            z[2 * k] = b1 * xn - a1 * y + z[2 * k + 1]
            z[2 * k + 1] = b2 * xn - a2 * y
            xn = y
        }
        return xn
    }

    /// The plain definition of `sosfiltfilt`: filter the extended signal section by section,
    /// reverse, filter again, reverse.
    public static func sosfiltfiltReference(_ sos: [[Double]], _ x: [Double]) -> [Double] {
        let edge = padLength(sos, count: x.count)
        guard x.count > 1 else { return x }
        var ext = [Double]()
        ext.reserveCapacity(x.count + 2 * edge)
        for i in stride(from: edge, through: 1, by: -1) { ext.append(2 * x[0] - x[i]) }
        ext.append(contentsOf: x)
        let n = x.count
        for i in 1...max(1, edge) where edge > 0 { ext.append(2 * x[n - 1] - x[n - 1 - i]) }
        let zi = sosfiltZi(sos)
        var z = zi.map { [$0[0] * ext[0], $0[1] * ext[0]] }
        sosfilt(sos, &ext, zi: &z)
        ext.reverse()
        z = zi.map { [$0[0] * ext[0], $0[1] * ext[0]] }
        sosfilt(sos, &ext, zi: &z)
        ext.reverse()
        return Array(ext[edge..<(edge + n)])
    }

    // MARK: Polarity

    /// The ranks of the 0.3 % and 99.7 % order statistics of n samples: ⌊0.003 n⌋ and
    /// ⌈0.997 n⌉ − 1 (for a 10 s window, the 8th smallest and the 8th largest of 2560).
    static func tailRanks(_ n: Int) -> (lo: Int, hi: Int) {
        (Int((0.003 * Double(n)).rounded(.down)), max(0, Int((0.997 * Double(n)).rounded(.up)) - 1))
    }

    /// Which way a recording's QRS complexes point: +1 up, −1 down. Leads differ (aVR,
    /// and many monitor and Holter leads, show the QRS downwards; 44 % of the corpus's
    /// windows do), so "is this window negated?" cannot be told from the sign alone unless
    /// recordings are first turned one way. The rule: cut the (filtered) signal into
    /// consecutive 10 s blocks (one block if shorter); in each, v = log((q99.7 − mean) /
    /// (mean − q0.3)), the largest upward excursion against the largest downward one,
    /// ignoring the 8 most extreme samples each way; the recording points down when the
    /// median v is below 0. A flat block has v = 0, and a tie keeps the sign.
    /// - Complexity: O(n) (two selections per block).
    public static func qrsPolarity(_ y: [Double]) -> Double {
        let n = y.count
        guard n > 1 else { return 1 }
        let block = min(n, windowLength)
        var votes = [Double]()
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: block)
        defer { scratch.deallocate() }
        var start = 0
        while start + block <= n {
            var mean = 0.0
            for i in 0..<block { let v = y[start + i]; mean += v; scratch[i] = Float(v) }
            mean /= Double(block)
            let (lo, hi) = tailRanks(block)
            Selection.select(scratch, rank: hi, in: 0..<block)
            if lo < hi { Selection.select(scratch, rank: lo, in: 0..<hi) }
            votes.append(polarityVote(low: Double(scratch[lo]), high: Double(scratch[hi]), mean: mean))
            start += block
        }
        return median(votes) < 0 ? -1 : 1
    }

    /// Negates `y` in place if its QRS complexes point down (`qrsPolarity`); true if it did.
    @discardableResult
    public static func turnQRSUp(_ y: inout [Double]) -> Bool {
        turnUp(&y, rule: qrsUp)
    }

    /// The beat-based rule: a recording is turned over only when, at its detected beats
    /// (`RPeaks` at 256 Hz), both the QRS and the T wave point down. Per beat, against the
    /// median of y over ±400 ms (the isoelectric level, nearly), the QRS votes down when its
    /// largest downward excursion within ±60 ms exceeds its largest upward one, and the T wave
    /// votes down when the extreme 150–400 ms after the beat is below the level. The recording
    /// is turned when more than half the beats vote down for both. A lead whose S wave is
    /// deeper than its R wave but whose T wave is upright (the case the quantile rule
    /// `qrsPolarity` turns wrongly) keeps its sign; an inverted lead (QRS and T down) is turned.
    /// Fewer than 4 beats: the sign is kept (in doubt, do nothing).
    /// - Complexity: O(n) plus the detector's.
    public static func qrsPolarityBeats(_ y: [Double]) -> Double {
        let fs = targetRate, n = y.count
        let peaks = RPeaks.detect(y, fs: fs)
        guard peaks.count >= 4 else { return 1 }
        let half = Int(0.4 * fs), q = Int(0.06 * fs), t0 = Int(0.15 * fs), t1 = Int(0.4 * fs)
        var both = 0, counted = 0
        for p in peaks where p - half >= 0 && p + half < n {
            let level = median(Array(y[(p - half)...(p + half)]))
            var hi = -Double.infinity, lo = Double.infinity
            for i in (p - q)...(p + q) { hi = max(hi, y[i]); lo = min(lo, y[i]) }
            var tExt = 0.0
            for i in (p + t0)...(p + t1) where abs(y[i] - level) > abs(tExt) { tExt = y[i] - level }
            counted += 1
            if level - lo > hi - level && tExt < 0 { both += 1 }
        }
        guard counted >= 4 else { return 1 }
        return 2 * both > counted ? -1 : 1
    }

    /// Negates `y` in place by the rule `name` names (`qrsUp` or `qrsUpBeats`); true if it did.
    @discardableResult
    public static func turnUp(_ y: inout [Double], rule name: String) -> Bool {
        let sign = name == qrsUpBeats ? qrsPolarityBeats(y) : qrsPolarity(y)
        guard sign < 0 else { return false }
        for i in y.indices { y[i] = -y[i] }
        return true
    }

    /// The plain definition of `qrsPolarity`: sort each block.
    public static func qrsPolarityReference(_ y: [Double]) -> Double {
        let n = y.count
        guard n > 1 else { return 1 }
        let block = min(n, windowLength)
        var votes = [Double]()
        for start in stride(from: 0, through: n - block, by: block) {
            let b = y[start..<(start + block)].map(Float.init)
            let mean = y[start..<(start + block)].reduce(0, +) / Double(block)
            let sorted = b.sorted(), (lo, hi) = tailRanks(block)
            votes.append(polarityVote(low: Double(sorted[lo]), high: Double(sorted[hi]), mean: mean))
        }
        return median(votes) < 0 ? -1 : 1
    }

    private static func polarityVote(low: Double, high: Double, mean: Double) -> Double {
        let up = high - mean, down = mean - low
        guard up > 0, down > 0 else { return up > down ? 1 : (down > up ? -1 : 0) }
        return log(up / down)
    }

    private static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return 0 }
        let s = v.sorted(), m = s.count / 2
        return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
    }

    // MARK: The whole pipeline

    /// What became of one recording.
    public struct Prepared: Sendable {
        /// (windows × 2560) samples at 256 Hz, ready for the encoder.
        public var windows: [Float]
        public var count: Int
        /// Seconds at the end of the recording (after resampling) that did not fill a window.
        public var remainderSeconds: Double
    }

    /// A manifest's preprocessing, checked once (ecg-server checks it at load, so a bad manifest
    /// stops the server with the reason instead of failing every request): the filter's
    /// second-order sections designed, the normalisation and polarity rule known.
    public struct Pipeline: Sendable, Equatable {
        public let filter: String
        public let normalization: String
        public let polarity: String?
        let sections: [[Double]]

        public init(filter: String, normalization: String, polarity: String? = nil) throws {
            guard let sos = Preprocessing.sections(forFilter: filter) else { throw PreprocessingError.unknownFilter(filter) }
            guard normalization == "none" || normalization == windowNormalization else { throw PreprocessingError.unknownNormalization(normalization) }
            if let p = polarity, p != qrsUp, p != qrsUpBeats { throw PreprocessingError.unknownPolarity(p) }
            self.filter = filter; self.normalization = normalization; self.polarity = polarity; sections = sos
        }

        /// Resamples to 256 Hz, filters, turns the QRS upwards (if `polarity` says so), cuts
        /// into consecutive 10 s windows and normalises each. `preprocessed` skips everything
        /// but the cutting (then fs must be 256).
        public func prepare(_ x: [Double], fs: Double, preprocessed: Bool = false) throws -> Prepared {
            if let bad = x.firstIndex(where: { !$0.isFinite }) { throw PreprocessingError.nonFinite(index: bad) }
            guard let (up, down) = ratio(from: fs) else { throw PreprocessingError.badSampleRate(fs) }
            let needed = Int((10 * fs).rounded(.up))
            guard x.count >= needed else { throw PreprocessingError.tooShort(samples: x.count, needed: needed, fs: fs) }
            var y = x
            if !preprocessed {
                y = resamplePoly(y, up: up, down: down)
                if !sections.isEmpty { y = sosfiltfilt(sections, y) }
                if let rule = polarity { turnUp(&y, rule: rule) }
            } else if fs != targetRate {
                throw PreprocessingError.badSampleRate(fs)
            }
            let count = y.count / windowLength
            guard count > 0 else { throw PreprocessingError.tooShort(samples: x.count, needed: needed, fs: fs) }
            var w = [Float](repeating: 0, count: count * windowLength)
            for i in 0..<(count * windowLength) { w[i] = Float(y[i]) }
            if !preprocessed && normalization == windowNormalization {
                w.withUnsafeMutableBufferPointer { p in
                    for k in 0..<count { robustZScore(UnsafeMutableBufferPointer(rebasing: p[(k * windowLength)..<((k + 1) * windowLength)])) }
                }
            }
            return Prepared(windows: w, count: count, remainderSeconds: Double(y.count - count * windowLength) / targetRate)
        }
    }

    /// `Pipeline(filter:normalization:polarity:).prepare(x, fs:, preprocessed:)` in one call
    /// (callers that prepare many recordings make one `Pipeline` and keep it).
    public static func prepare(
        _ x: [Double], fs: Double, filter: String, normalization: String,
        polarity: String? = nil, preprocessed: Bool = false
    ) throws -> Prepared {
        try Pipeline(filter: filter, normalization: normalization, polarity: polarity).prepare(x, fs: fs, preprocessed: preprocessed)
    }
}

extension Preprocessing.Pipeline {
    /// The pipeline a weights manifest names (checked here, once).
    public init(_ spec: Manifest.Preprocessing) throws {
        try self.init(filter: spec.filter, normalization: spec.normalization, polarity: spec.polarity)
    }
}
