import Model
import Training

/// How a dataset made by `prepare` relates to a weights directory's manifest (used by
/// `pretrain`, `finetune` and `evaluate`).
extension Dataset {
    /// A dataset made by `prepare` must have been turned the way the encoder was trained
    /// (`--polarity`); otherwise the embeddings a head learns from are not the ones the
    /// server will compute.
    func checkPolarity(path: String, against manifest: Manifest, weights: String) throws {
        guard names.preprocessing["filter"] != nil else { return }  // not from `prepare` (authors' layout)
        let have = names.preprocessing["polarity"], want = manifest.input.preprocessing.polarity
        guard have != want else { return }
        throw Failure(
            "\(path) was prepared with polarity \(have ?? "keep") but \(weights) expects \(want ?? "keep"): "
                + "run `ecg-train prepare` again with --polarity \(want ?? "keep")")
    }
}
