using LstmGen.Training;

namespace LstmGen.Tests;

[LstmModel(InputSize = 3, HiddenSize = 4, NumLayers = 2, OutputSize = 2, SequenceLength = 12)] public partial class Tiny_3_4_2_2 { }
[LstmModel(InputSize = 8, HiddenSize = 32, NumLayers = 2, OutputSize = 1, SequenceLength = 50)] public partial class ShapeT { }
