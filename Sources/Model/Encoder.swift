import CKernels
import Dispatch
import Foundation

// Shapes: `EncoderGeometry` (channels-last, per window; padded buffers have zero rows
// for TF `same`).

/// Errors of the inference engine's inputs.
public enum EncoderError: Error, CustomStringConvertible, Equatable, Sendable {
    case wrongLength(expected: Int, found: Int)
    case nonFinite(window: Int, sample: Int)

    public var description: String {
        switch self {
        case let .wrongLength(e, f): return "windows must have \(e) samples each; the input has \(f) values, not a multiple of \(e)"
        case let .nonFinite(w, s): return "window \(w) has a NaN or Inf at sample \(s)"
        }
    }
}

/// Scratch buffers for one window's forward pass, allocated once per worker and reused.
/// Not thread-safe: one per thread. Padding rows stay zero for the buffer's lifetime.
public final class EncoderWorkspace: @unchecked Sendable {
    // Each buffer is (padLeft + T + padRight) rows of C floats; `in[i]` feeds conv i.
    package let inputs: [UnsafeMutablePointer<Float>]  // conv_i input, padded
    let inRows: [Int]
    package let c2: UnsafeMutablePointer<Float>  // conv2 out (lengths[1], 32), before pooling
    package let c4: UnsafeMutablePointer<Float>  // conv4 out (lengths[3], 64), before pooling
    package let c6: UnsafeMutablePointer<Float>  // conv6 out (lengths[5], 128), before the global max

    let tmp: UnsafeMutablePointer<Float>, fx: UnsafeMutablePointer<Float>, fy: UnsafeMutablePointer<Float>
    let scratch: (Int, Int, Int)

    init(_ w: EncoderWeights, plans: [TiledDFTConv?]) {
        let lens = EncoderGeometry.lengths
        var ins: [UnsafeMutablePointer<Float>] = []
        var rows: [Int] = []
        var sc = (1, 1, 1)
        for (i, (c, t)) in zip(w.convs, lens).enumerated() {
            var r = c.padLeft + t + c.padRight
            if let p = plans[i] {
                r = max(r, p.inputRows)
                sc = (max(sc.0, p.scratch.tmp), max(sc.1, p.scratch.x), max(sc.2, p.scratch.y))
            }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: r * c.cin)
            p.initialize(repeating: 0, count: r * c.cin)
            ins.append(p); rows.append(r)
        }
        inputs = ins; inRows = rows
        func output(_ i: Int) -> UnsafeMutablePointer<Float> {
            let n = lens[i] * w.convs[i].cout
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n)
            return p
        }
        c2 = output(1); c4 = output(3); c6 = output(5)
        scratch = sc
        tmp = .allocate(capacity: sc.0); tmp.initialize(repeating: 0, count: sc.0)
        fx = .allocate(capacity: sc.1); fx.initialize(repeating: 0, count: sc.1)
        fy = .allocate(capacity: sc.2); fy.initialize(repeating: 0, count: sc.2)
    }

    deinit {
        for p in inputs { p.deallocate() }
        c2.deallocate(); c4.deallocate(); c6.deallocate()
        tmp.deallocate(); fx.deallocate(); fy.deallocate()
    }
}

/// The fast encoder: immutable weights shared by every thread, forward pass over
/// batches of 2560-sample windows on the CPU kernels picked at run time.
public struct Encoder: Sendable {
    public let weights: EncoderWeights
    public static let windowLength = EncoderWeights.windowLength
    public static let embeddingSize = EncoderWeights.embeddingSize
    /// How each of the six convolutions is computed.
    public let algorithms: [ConvAlgorithm]
    let plans: [TiledDFTConv?]

    /// Default per-layer choice, measured on this project's benchmark (README): the
    /// tiled DFT where kernels are long, direct GEMM where they are short.
    public static let defaultAlgorithms: [ConvAlgorithm] = [
        .direct, .tiledDFT(tile: 32), .tiledDFT(tile: 16), .tiledDFT(tile: 16), .tiledDFT(tile: 8), .tiledDFT(tile: 8),
    ]

    public init(weights: EncoderWeights, algorithms: [ConvAlgorithm]? = nil) {
        self.weights = weights
        let algs = algorithms ?? Self.defaultAlgorithms
        precondition(algs.count == 6)
        self.algorithms = algs
        plans = algs.enumerated().map { i, a in
            if case let .tiledDFT(m) = a { return TiledDFTConv(weights.convs[i], length: Self.lengths[i], tile: m) }
            return nil
        }
    }

    public func makeWorkspace() -> EncoderWorkspace { EncoderWorkspace(weights, plans: plans) }

    /// The kernel family in use ("avx512", "avx2" or "portable").
    public static var kernelName: String { String(cString: ck_isa_name(ck_isa())) }

    /// Runs conv layer `i` over rows [r0, r1) of its output. `out` points at row 0 of the
    /// output (row stride = C_out).
    @inline(__always)
    func conv(_ i: Int, _ ws: EncoderWorkspace, out: UnsafeMutablePointer<Float>, rows r0: Int, _ r1: Int) {
        let c = weights.convs[i]
        guard r1 > r0 else { return }
        c.kernel.withUnsafeBufferPointer { k in
            c.bias.withUnsafeBufferPointer { b in
                ck_gemm_bias_act(
                    Int32(r1 - r0), Int32(c.cout), Int32(c.taps * c.cin),
                    ws.inputs[i] + r0 * c.cin, Int32(c.cin), k.baseAddress, b.baseAddress,
                    out + r0 * c.cout, Int32(c.cout), 1)
            }
        }
    }

    /// The output buffer (row 0) that conv `i` writes into.
    func target(_ i: Int, _ ws: EncoderWorkspace) -> UnsafeMutablePointer<Float> {
        switch i {
        case 1: return ws.c2
        case 3: return ws.c4
        case 5: return ws.c6
        default: return ws.inputs[i + 1] + weights.convs[i + 1].padLeft * weights.convs[i + 1].cin
        }
    }

    static let lengths = EncoderGeometry.lengths

    /// One window through the encoder; `split` (>1) runs each layer's rows across that
    /// many threads (for batches smaller than the thread count).
    package func forward(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ ws: EncoderWorkspace, split: Int) {
        let c0 = weights.convs[0]
        (ws.inputs[0] + c0.padLeft).update(from: x, count: Self.windowLength)
        for i in 0..<6 {
            let t = Self.lengths[i]
            let dst = target(i, ws)
            if let p = plans[i] {
                p.run(xp: ws.inputs[i], out: dst, ldo: weights.convs[i].cout, tmp: ws.tmp, x: ws.fx, y: ws.fy, split: split)
            } else if split > 1 {
                concurrentRanges(t, parts: split) { lo, hi in conv(i, ws, out: dst, rows: lo, hi) }  // each thread writes its own rows
            } else {
                conv(i, ws, out: dst, rows: 0, t)
            }
            if EncoderGeometry.pooledAfter.contains(i) {
                let next = weights.convs[i + 1]
                ck_maxpool8s2(
                    Int32(t), Int32(weights.convs[i].cout), dst,
                    ws.inputs[i + 1] + next.padLeft * next.cin, Int32(next.cin))
            }
        }
        ck_global_max(Int32(Self.lengths[5]), Int32(Self.embeddingSize), ws.c6, out)
    }

    /// Embeds `count` windows of 2560 samples (row-major) into `count` × 128 floats.
    /// Threads: windows are spread over `threads` threads, or over as many as `budget` grants
    /// (a `CoreBudget` the caller shares between concurrent callers, e.g. the server's
    /// workers, so they never oversubscribe the cores; no process-wide state); a batch
    /// smaller than the thread count splits each layer's rows instead.
    /// - Complexity: 0.674 GFLOP per window.
    public func embed(
        _ windows: UnsafeBufferPointer<Float>, count: Int, into out: UnsafeMutableBufferPointer<Float>,
        threads: Int = 1, workspaces: [EncoderWorkspace]? = nil, budget: CoreBudget? = nil
    ) {
        precondition(windows.count >= count * Self.windowLength && out.count >= count * Self.embeddingSize)
        if count == 0 { return }
        let granted = budget?.acquire(upTo: max(1, threads)) ?? max(1, threads)
        defer { budget?.release(granted) }
        let wss = workspaces ?? (0..<min(granted, count)).map { _ in makeWorkspace() }
        let x = windows.baseAddress!, o = out.baseAddress!  // disjoint rows per thread
        if granted == 1 || count == 1 {
            for n in 0..<count {
                forward(x + n * Self.windowLength, o + n * Self.embeddingSize, wss[0], split: granted)
            }
            return
        }
        let workers = min(granted, count, wss.count)
        concurrently(workers) { w in
            let lo = count * w / workers, hi = count * (w + 1) / workers
            for n in lo..<hi {
                forward(x + n * Self.windowLength, o + n * Self.embeddingSize, wss[w], split: 1)
            }
        }
    }

    /// Embeds windows given as a flat array (count × 2560), checking lengths and values.
    public func embed(_ windows: [Float], threads: Int = 1) throws -> [Float] {
        guard windows.count % Self.windowLength == 0 else {
            throw EncoderError.wrongLength(expected: Self.windowLength, found: windows.count)
        }
        if let bad = windows.firstIndex(where: { !$0.isFinite }) {
            throw EncoderError.nonFinite(window: bad / Self.windowLength, sample: bad % Self.windowLength)
        }
        let n = windows.count / Self.windowLength
        var out = [Float](repeating: 0, count: n * Self.embeddingSize)
        windows.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in embed(x, count: n, into: o, threads: threads) }
        }
        return out
    }
}

/// How a convolution layer is computed. Both give the same result within float32 rounding.
public enum ConvAlgorithm: Sendable, Equatable, CustomStringConvertible {
    /// Direct convolution as one GEMM over overlapping input rows (K·C_in deep).
    case direct
    /// Overlap-save with 2·tile-point DFTs; tile must divide the kernel length (or exceed it).
    case tiledDFT(tile: Int)

    public var description: String {
        switch self {
        case .direct: return "direct";
        case let .tiledDFT(m): return "dft\(m)"
        }
    }

    /// Parses "direct" or "dftM".
    public init?(_ s: String) {
        if s == "direct" { self = .direct; return }
        if s.hasPrefix("dft"), let m = Int(s.dropFirst(3)), m >= 2, m <= 64 { self = .tiledDFT(tile: m); return }
        return nil
    }
}

/// A budget of compute threads, one per core, shared by the callers that are handed it (the
/// server's inference workers) so that they never oversubscribe the machine. There is no
/// process-wide one: whoever runs engines side by side makes one and passes it in, as ggml
/// passes its thread count.
/// Sendable because `free` is read and written only with `cond` locked; `cores` is immutable.
public final class CoreBudget: @unchecked Sendable {
    private let cond = NSCondition()
    private var free: Int
    public let cores: Int

    public init(cores: Int) { self.cores = max(1, cores); free = max(1, cores) }

    /// Blocks until at least one core is free, then takes up to `n`. Returns how many.
    public func acquire(upTo n: Int) -> Int {
        cond.lock(); defer { cond.unlock() }
        while free == 0 { cond.wait() }
        let g = min(n, free)
        free -= g
        return g
    }

    public func release(_ n: Int) {
        cond.lock(); free += n; cond.broadcast(); cond.unlock()
    }
}

extension Encoder {
    /// Benchmark helper: the fastest of `reps` runs of conv layer `i` alone (seconds),
    /// on random input, with this encoder's algorithm for that layer.
    public func timeLayer(_ i: Int, reps: Int, split: Int = 1) -> Double {
        let ws = makeWorkspace()
        let c = weights.convs[i]
        let src = ws.inputs[i] + c.padLeft * c.cin
        for k in 0..<(Self.lengths[i] * c.cin) { src[k] = Float.random(in: -1...1) }
        let dst = target(i, ws)
        var best = Double.infinity
        for _ in 0..<reps {
            let s = DispatchTime.now().uptimeNanoseconds
            if let p = plans[i] {
                p.run(xp: ws.inputs[i], out: dst, ldo: c.cout, tmp: ws.tmp, x: ws.fx, y: ws.fy, split: split)
            } else {
                conv(i, ws, out: dst, rows: 0, Self.lengths[i])
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
        }
        return best
    }
}
