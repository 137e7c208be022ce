import ModelTestSupport
import CKernels
import Testing
@testable import Model
@testable import Training

/// The fast kernels against their plain references, on every kernel family this CPU has.
@Suite(.serialized) struct Kernels {
    /// Every family this CPU has; each test calls its family's table, so nothing global
    /// changes while other suites run in parallel.
    static let isas: [Int32] = Array(0...ck_isa())

    @Test("GEMM fast vs reference: random shapes, odd sizes, overlapping rows", arguments: isas)
    func gemm(_ isa: Int32) throws {
        let k = try #require(ck_kernels_for(isa)).pointee
        #expect(k.isa == isa)
        var r = Rng(s: 0x9E37_79B9_7F4A_7C15 &+ UInt64(isa))
        let shapes: [(m: Int, n: Int, k: Int, lda: Int)] = [
            (1, 32, 1, 1), (1, 32, 7, 7), (13, 32, 37, 37), (12, 64, 128, 128), (5, 16, 3, 3), (3, 7, 5, 5),
            (61, 128, 96, 32), (25, 96, 40, 8), (2, 256, 17, 17), (47, 32, 1024, 32), (4, 48, 9, 9),
        ]
        for s in shapes {
            for act in Int32(0)...2 {
                let a = r.floats((s.m - 1) * s.lda + s.k), b = r.floats(s.k * s.n), bias = r.floats(s.n)
                var c1 = [Float](repeating: .nan, count: s.m * (s.n + 3)), c2 = c1
                k.gemm_bias_act(Int32(s.m), Int32(s.n), Int32(s.k), a, Int32(s.lda), b, bias, &c1, Int32(s.n + 3), act)
                ck_gemm_bias_act_ref(Int32(s.m), Int32(s.n), Int32(s.k), a, Int32(s.lda), b, bias, &c2, Int32(s.n + 3), act)
                for i in 0..<s.m { for j in s.n..<(s.n + 3) { #expect(c1[i * (s.n + 3) + j].isNaN, "wrote past N") } }
                let body1 = (0..<s.m).flatMap { i in c1[(i * (s.n + 3))..<(i * (s.n + 3) + s.n)] }
                let body2 = (0..<s.m).flatMap { i in c2[(i * (s.n + 3))..<(i * (s.n + 3) + s.n)] }
                #expect(relErr(body1, body2) <= 1e-5, "isa \(isa) shape \(s) act \(act): \(relErr(body1, body2))")
            }
        }
    }

    @Test("GEMM with a B row stride and no bias", arguments: isas)
    func gemmStrided(_ isa: Int32) throws {
        let kt = try #require(ck_kernels_for(isa)).pointee
        var r = Rng(s: 77)
        let (m, n, k, ldb) = (19, 64, 33, 160)
        let a = r.floats(m * k), b = r.floats(k * ldb)
        var c1 = [Float](repeating: 0, count: m * n), c2 = c1
        kt.gemm_full(Int32(m), Int32(n), Int32(k), a, Int32(k), b, Int32(ldb), nil, &c1, Int32(n), 0)
        ck_gemm_full_ref(Int32(m), Int32(n), Int32(k), a, Int32(k), b, Int32(ldb), nil, &c2, Int32(n), 0)
        #expect(relErr(c1, c2) <= 1e-5)
    }

    @Test("C += AᵀB (weight gradients) fast vs reference, overlapping rows", arguments: isas)
    func gemmTN(_ isa: Int32) throws {
        let kt = try #require(ck_kernels_for(isa)).pointee
        var r = Rng(s: 31 + UInt64(isa))
        for (m, n, k, lda) in [(32, 32, 50, 1), (1024, 64, 37, 32), (13, 16, 7, 13), (5, 7, 3, 5), (512, 128, 101, 64), (25, 96, 9, 25)] {
            let a = r.floats((k - 1) * lda + m), b = r.floats(k * n)
            var c1 = r.floats(m * n), c2 = c1
            kt.gemm_tn_acc(Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(n), &c1, Int32(n))
            ck_gemm_tn_acc_ref(Int32(m), Int32(n), Int32(k), a, Int32(lda), b, Int32(n), &c2, Int32(n))
            #expect(relErr(c1, c2) <= 1e-5, "isa \(isa) \((m, n, k, lda)): \(relErr(c1, c2))")
        }
    }

    @Test("tiled-DFT combine: every family equals its formula, on a sub-range of segments", arguments: isas)
    func dftCombine(_ isa: Int32) throws {
        let kt = try #require(ck_kernels_for(isa)).pointee
        var r = Rng(s: 5 + UInt64(isa))
        for (m, nseg, q0, q1, c) in [(8, 5, 0, 5, 16), (16, 9, 2, 7, 32), (32, 3, 1, 2, 3)] {
            let tmp = r.floats((nseg + 1) * 2 * (m + 1) * c)
            var x = [Float](repeating: .nan, count: (m + 1) * nseg * 2 * c)
            kt.tile_dft_combine(Int32(m), Int32(nseg), Int32(q0), Int32(q1), Int32(c), tmp, &x)
            for f in 0...m {
                for q in 0..<nseg {
                    for part in 0..<2 {
                        for ch in 0..<c {
                            let got = x[(f * nseg + q) * 2 * c + part * c + ch]
                            if q < q0 || q >= q1 { #expect(got.isNaN, "wrote outside [q0, q1)"); continue }
                            let t = { (qq: Int) in tmp[((qq * 2 + part) * (m + 1) + f) * c + ch] }
                            let want = t(q) + (f % 2 == 0 ? 1 : -1) * t(q + 1)
                            #expect(abs(got - want) <= 1e-6 * max(1, abs(want)), "isa \(isa) m \(m) f \(f) q \(q)")
                        }
                    }
                }
            }
        }
    }

    @Test("max pool 8/2 and global max against the reference")
    func pools() {
        var r = Rng(s: 5)
        for (t, c) in [(8, 1), (9, 3), (2560, 32), (31, 64), (1277, 64)] {
            let x = r.floats(t * c)
            let to = (t - 8) / 2 + 1
            var y = [Float](repeating: 0, count: to * c)
            ck_maxpool8s2(Int32(t), Int32(c), x, &y, Int32(c))
            #expect(y == Reference.maxPool8s2(x, length: t, channels: c))
            var g = [Float](repeating: 0, count: c)
            ck_global_max(Int32(t), Int32(c), x, &g)
            #expect(g == Reference.globalMax(x, length: t, channels: c))
        }
    }

    static let convCases: [(taps: Int, cin: Int, cout: Int, t: Int, alg: ConvAlgorithm)] = [
        (32, 1, 32, 2560, .direct), (32, 32, 32, 2560, .tiledDFT(tile: 32)), (32, 32, 32, 97, .tiledDFT(tile: 16)),
        (16, 32, 64, 1277, .tiledDFT(tile: 16)), (16, 64, 64, 33, .tiledDFT(tile: 8)), (8, 64, 128, 635, .tiledDFT(tile: 8)),
        (8, 128, 128, 13, .tiledDFT(tile: 16)), (8, 32, 32, 1, .tiledDFT(tile: 8)), (16, 32, 32, 2, .direct),
        (4, 32, 32, 50, .tiledDFT(tile: 4)),
    ]

    @Test("conv layer, fast (direct GEMM / tiled DFT) vs the reference formula", arguments: 0..<convCases.count)
    func convAgainstReference(_ idx: Int) throws {
        let cs = Self.convCases[idx]
        var r = Rng(s: UInt64(1000 + idx))
        let layer = ConvLayer(kernel: r.floats(cs.taps * cs.cin * cs.cout), bias: r.floats(cs.cout), taps: cs.taps, cin: cs.cin, cout: cs.cout)
        let x = r.floats(cs.t * cs.cin)
        let want = Reference.leakyReLU(Reference.conv1dSame(x, length: cs.t, layer))
        let got = fastConv(layer, x, t: cs.t, cs.alg)
        #expect(relErr(got, want) <= 1e-5, "case \(cs): \(relErr(got, want))")
    }

    /// Runs one conv layer through the engine's code paths on a standalone buffer.
    func fastConv(_ l: ConvLayer, _ x: [Float], t: Int, _ alg: ConvAlgorithm) -> [Float] {
        var out = [Float](repeating: .nan, count: t * l.cout)
        switch alg {
        case .direct:
            var xp = [Float](repeating: 0, count: (t + l.taps - 1) * l.cin)
            for i in 0..<(t * l.cin) { xp[l.padLeft * l.cin + i] = x[i] }
            ck_gemm_bias_act(Int32(t), Int32(l.cout), Int32(l.taps * l.cin), xp, Int32(l.cin), Array(l.kernel), Array(l.bias), &out, Int32(l.cout), 1)
        case let .tiledDFT(m):
            let p = TiledDFTConv(l, length: t, tile: m)
            var xp = [Float](repeating: 0, count: max(p.inputRows, t + l.taps - 1) * l.cin)
            for i in 0..<(t * l.cin) { xp[l.padLeft * l.cin + i] = x[i] }
            let sc = p.scratch
            var tmp = [Float](repeating: 0, count: sc.tmp), fx = [Float](repeating: 0, count: sc.x), fy = [Float](repeating: 0, count: sc.y)
            xp.withUnsafeBufferPointer { xpp in
                out.withUnsafeMutableBufferPointer { o in
                    tmp.withUnsafeMutableBufferPointer { tp in
                        fx.withUnsafeMutableBufferPointer { xb in
                            fy.withUnsafeMutableBufferPointer { yb in
                                p.run(
                                    xp: xpp.baseAddress!, out: o.baseAddress!, ldo: l.cout, tmp: tp.baseAddress!, x: xb.baseAddress!, y: yb.baseAddress!,
                                    split: 2)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    @Test("engine: every algorithm mix, batch 1 and odd batches, 1 and 2 threads, equals the reference")
    func engineMixes() throws {
        let w = TF.network.encoder.weights
        let want = TF.embedding
        for algs in [
            [ConvAlgorithm](repeating: .direct, count: 6), Encoder.defaultAlgorithms,
            [.tiledDFT(tile: 32), .tiledDFT(tile: 16), .tiledDFT(tile: 8), .tiledDFT(tile: 16), .tiledDFT(tile: 16), .tiledDFT(tile: 16)],
        ] {
            let e = Encoder(weights: w, algorithms: algs)
            for (n, threads) in [(1, 1), (1, 2), (3, 2), (5, 1), (8, 2), (7, 3)] {
                let got = try e.embed(Array(TF.inputs[0..<(n * 2560)]), threads: threads)
                #expect(relErr(got, Array(want[0..<(n * 128)])) <= 1e-5, "\(algs) n=\(n) t=\(threads)")
            }
        }
    }

    @Test("engine refuses wrong lengths and NaN/Inf, naming where")
    func badInput() {
        let e = TF.network.encoder
        #expect(throws: EncoderError.wrongLength(expected: 2560, found: 2559)) { try e.embed([Float](repeating: 0, count: 2559)) }
        var x = [Float](repeating: 0, count: 5120); x[2560 + 17] = .nan
        #expect(throws: EncoderError.nonFinite(window: 1, sample: 17)) { try e.embed(x) }
        x[2560 + 17] = -.infinity
        #expect(throws: EncoderError.nonFinite(window: 1, sample: 17)) { try e.embed(x) }
    }

    @Test("the core budget never grants more than the cores, and blocks until one is free")
    func coreBudget() async {
        let b = CoreBudget(cores: 2)
        #expect(b.acquire(upTo: 5) == 2)
        let t = Task.detached { b.acquire(upTo: 1) }
        try? await Task.sleep(nanoseconds: 50_000_000)
        b.release(2)
        #expect(await t.value == 1)
        #expect(b.acquire(upTo: 3) == 1)
    }
}
