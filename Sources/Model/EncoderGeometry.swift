/// The network's shapes, written once; every other place derives from these.
///
///     input   x : (2560)            -> conv1 (K32, 1→32)   -> (2560, 32)
///     conv2     : (2560, 32)        -> maxpool 8/2          -> (1277, 32)
///     conv3/4   : (1277, 32→64→64)  -> maxpool 8/2          -> (635, 64)
///     conv5/6   : (635, 64→128→128) -> global max           -> (128)
public enum EncoderGeometry {
    /// Samples per second the network expects.
    public static let sampleRate = 256.0
    /// Samples per window: 10 s at 256 Hz.
    public static let windowLength = 2560
    /// Length of the embedding (channels of the last convolution).
    public static let embeddingSize = 128
    /// (name, taps, C_in, C_out) of the six convolutions, exactly as the TF graph.
    public static let convs: [(name: String, taps: Int, cin: Int, cout: Int)] = [
        ("conv_layer_1", 32, 1, 32), ("conv_layer_2", 32, 32, 32),
        ("conv_layer_3", 16, 32, 64), ("conv_layer_4", 16, 64, 64),
        ("conv_layer_5", 8, 64, 128), ("conv_layer_6", 8, 128, 128),
    ]
    /// Max pooling (valid padding) after these convolutions (0-based): after conv2 and conv4.
    public static let pooledAfter: Set<Int> = [1, 3]
    public static let poolSize = 8, poolStride = 2
    /// Rows after a max pool of `rows` rows.
    public static func pooled(_ rows: Int) -> Int { (rows - poolSize) / poolStride + 1 }
    /// Output rows of each convolution ('same' padding): 2560, 2560, 1277, 1277, 635, 635.
    public static let lengths: [Int] = {
        var out: [Int] = [], t = windowLength
        for i in convs.indices {
            out.append(t)
            if pooledAfter.contains(i) { t = pooled(t) }
        }
        return out
    }()
    /// The pre-training tasks, in head order (task_0 … task_6): which version of a window
    /// head task_i recognises.
    /// Versions of each window in pre-training, one pretext head each (the original and six transformations).
    public static var versions: Int { transformations.count }
    public static let transformations = ["original", "noise", "scaling", "negation", "time_reversal", "permutation", "time_warp"]
}
