using System;
using System.Linq;
using LstmGen.Training;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

/// <summary>
/// The backward pass's transposed products for several vectors at once (<see cref="GradientProducts.MatTMat"/>, which a
/// group of sequences and the steps of ∂L/∂x use) against a double-precision sum, on awkward sizes; and the rule that
/// cuts a batch into chunks. CI reruns these on every SIMD path (the name ends in TrainingTests).
/// </summary>
public sealed class GradientProductsTrainingTests(ITestOutputHelper output)
{
    [Theory]
    // groups, rows, columns: an LSTM's four gates of 1, 3, 17 and 40 units; one projection group; columns across the
    // block sizes of every width (1, 3, 8, 17, 32, 33, 40, 64)
    [InlineData(4, 1, 1)]
    [InlineData(4, 3, 8)]
    [InlineData(4, 17, 17)]
    [InlineData(4, 17, 3)]
    [InlineData(4, 40, 40)]
    [InlineData(4, 32, 33)]
    [InlineData(4, 16, 64)]
    [InlineData(1, 5, 17)]
    public void MatTMatIsWTransposedTimesEachVector(int groups, int rows, int columns)
    {
        // da_s rows are padded as the trainer pads them: group g at g·groupStride, vectors daStride apart
        int groupStride = (rows + 15) / 16 * 16, daStride = groups * groupStride + 5, outputStride = columns + 3;
        var random = new Random(rows * 1000 + columns);
        float[] w = Enumerable.Range(0, groups * rows * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        double worst = 0;
        foreach (int count in new[] { 1, 2, 3, 4, 5, 7, 8, 9 })
        {
            float[] da = Enumerable.Range(0, count * daStride).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
            float[] got = Enumerable.Repeat(float.NaN, count * outputStride).ToArray();
            GradientProducts.MatTMat(ref w[0], groups, rows, columns, ref da[0], groupStride, daStride, count, ref got[0], outputStride);
            for (int s = 0; s < count; s++)
                for (int j = 0; j < columns; j++)
                {
                    double sum = 0, magnitude = 0;
                    for (int g = 0; g < groups; g++)
                        for (int u = 0; u < rows; u++)
                        {
                            double term = (double)w[(g * rows + u) * columns + j] * da[s * daStride + g * groupStride + u];
                            sum += term;
                            magnitude += Math.Abs(term);
                        }
                    double error = Math.Abs(got[s * outputStride + j] - sum) / Math.Max(magnitude, 1e-30);
                    worst = Math.Max(worst, error);
                    // float32 sums of groups·rows terms: each addition rounds by at most 2^-24 of the running magnitude
                    Assert.True(error <= groups * rows * 1.2e-7, $"count {count}, vector {s}, column {j}: {got[s * outputStride + j]} against {sum} (error {error:E2} of Σ|terms|)");
                }
            // nothing past each output's columns is written (the padding between vectors stays NaN)
            for (int s = 0; s < count; s++)
                for (int j = columns; j < outputStride && s * outputStride + j < got.Length; j++)
                    Assert.True(float.IsNaN(got[s * outputStride + j]), $"count {count}: padding after vector {s} written at column {j}");
        }
        output.WriteLine($"{groups}×{rows} rows, {columns} columns, 1–9 vectors: worst error {worst:E2} of Σ|terms|");
    }

    [Theory]
    // batch size → chunks: one chunk for one sequence; two from two sequences up (two threads share a small batch);
    // about four sequences per chunk beyond eight; an even count where it can be; at most eight
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 2)]
    [InlineData(8, 2)]
    [InlineData(9, 4)]
    [InlineData(11, 4)]
    [InlineData(13, 4)]
    [InlineData(16, 4)]
    [InlineData(17, 6)]
    [InlineData(32, 8)]
    [InlineData(33, 8)]
    [InlineData(1000, 8)]
    public void ABatchIsCutByItsSizeAlone(int batch, int chunks)
    {
        Assert.Equal(chunks, BatchWorkers.ChunkCount(batch, groupSize: 4, maxChunks: 8));
    }
}
