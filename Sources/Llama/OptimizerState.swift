// An optimizer's state in the model's parameter layout: named moment buffers (AdamW's m and v,
// RMSProp's v, momentum) of the same shapes as the parameters, the step count and hyperparameters.
// The optimizer fills and restores it; checkpoints store it.

import Kernels

/// Optimizer state: named moment buffers in the parameter layout.
public struct OptimizerState {
    public var name: String
    public var step: Int
    public var hyperparametersJSON: String
    public var moments: [(name: String, values: FloatBuffer)]
    public init(name: String, step: Int, hyperparametersJSON: String = "{}", moments: [(name: String, values: FloatBuffer)]) {
        self.name = name; self.step = step; self.hyperparametersJSON = hyperparametersJSON; self.moments = moments
    }
}
