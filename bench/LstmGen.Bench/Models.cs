namespace LstmGen.Bench;

// The benchmark shapes of shared/spec/bench.md: batch 1, float32, biases on, no head (output = last layer's h).
[LstmModel(InputSize = 1, HiddenSize = 16)] public partial class ShapeA { }
[LstmModel(InputSize = 1, HiddenSize = 40)] public partial class ShapeB { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2)] public partial class ShapeC { }
[LstmModel(InputSize = 64, HiddenSize = 128)] public partial class ShapeD { }
[LstmModel(InputSize = 256, HiddenSize = 256)] public partial class ShapeE { }

// The training shape T of shared/spec/bench.md: C (8→32, 2 layers) plus a Linear(32→1) head, sized for 50-step sequences.
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1, SequenceLength = 50)] public partial class ShapeT { }
