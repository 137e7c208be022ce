import ModelTestSupport
import Testing
import NPY
@testable import Model
@testable import Training

/// Parity with the authors' TF graph (fixture computed by TF 2.21 running their MetaGraph).
@Suite struct TFParity {
    @Test(
        "reference forward: every intermediate of row 0 within 1e-5 x max",
        arguments: [
            "conv_layer_1", "conv_layer_2", "mp1", "conv_layer_3", "conv_layer_4", "mp2",
            "conv_layer_5", "conv_layer_6", "flat_layer",
        ])
    func referenceIntermediates(_ name: String) throws {
        let inter = TF.referenceRow0
        let want = try #require(TF.intermediates[name]).floats()
        let got = try #require(inter[name])
        #expect(relErr(got, want) <= 1e-5, "\(name): rel err \(relErr(got, want))")
    }

    @Test("reference heads: task hidden activations of row 0", arguments: 0..<7)
    func referenceHeads(_ i: Int) throws {
        let e = Array(TF.embedding[0..<128])
        let r = Reference.task(e, TF.network.tasks[i])
        #expect(relErr(r.hidden1, TF.intermediates["task_\(i)_dense_1"]!.floats()) <= 1e-5)
        #expect(relErr(r.hidden2, TF.intermediates["task_\(i)_dense_2"]!.floats()) <= 1e-5)
        #expect(abs(r.logit - TF.taskLogits[i]) <= 1e-5 * TF.taskLogits[0..<7].map(abs).max()!)
    }

    @Test("fast engine: embeddings of all 8 windows", arguments: [1, 2])
    func engineEmbeddings(_ threads: Int) throws {
        let e = try TF.network.encoder.embed(TF.inputs, threads: threads)
        #expect(relErr(e, TF.embedding) <= 1e-5, "rel err \(relErr(e, TF.embedding))")
    }

    @Test("fast engine: task logits of all 8 windows")
    func engineLogits() throws {
        let e = try TF.network.encoder.embed(TF.inputs)
        let l = TF.network.taskLogits(e)
        #expect(relErr(l, TF.taskLogits) <= 1e-5, "rel err \(relErr(l, TF.taskLogits))")
    }
}
