using System;
using System.Globalization;
using LstmGen.Fuzz;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests.Weights;

/// <summary>
/// The bounded slice of the loader's mutation fuzzing that runs with every test run (20,000 mutated files; set
/// LSTMGEN_FUZZ_COUNT for more). The full run of 1,000,000 is <c>tests/LstmGen.Fuzz</c>; figures in its RESULTS.md.
/// </summary>
public sealed class FuzzSliceTests(ITestOutputHelper output)
{
    [Fact]
    public void MutatedFilesOnlyEverThrowWeightsFormatException()
    {
        long count = long.TryParse(Environment.GetEnvironmentVariable("LSTMGEN_FUZZ_COUNT"), NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n : 20_000;
        var outcome = FuzzHarness.Run(count, seed: 20240607);
        output.WriteLine(outcome.Summary());
        Assert.True(outcome.Failures.Count == 0, outcome.Summary());
        Assert.Equal(count, outcome.Iterations);
        Assert.True(outcome.Loaded > 0, "no mutated file loaded: the mutations are too destructive to test the accepting paths");
        Assert.True(outcome.Rejected.Count >= 8, "fewer than 8 kinds of rejection seen: " + outcome.Summary());
    }

    [Fact]
    public void MutatedGuitarMLJsonOnlyEverThrowsWeightsFormatException()
    {
        var outcome = JsonFuzzHarness.Run(5_000, seed: 20261130);
        output.WriteLine(outcome.Summary());
        Assert.True(outcome.Failures.Count == 0, outcome.Summary());
        Assert.True(outcome.Loaded > 0, "no mutated file loaded: " + outcome.Summary());
        Assert.True(outcome.Rejected.Count >= 5, "fewer than 5 kinds of rejection seen: " + outcome.Summary());
    }

    [Fact]
    public void MutatedNamFilesOnlyEverThrowWeightsFormatException()
    {
        var outcome = JsonFuzzHarness.Run(5_000, seed: 20261130, format: JsonFormat.Nam);
        output.WriteLine(outcome.Summary());
        Assert.True(outcome.Failures.Count == 0, outcome.Summary());
        Assert.True(outcome.Loaded > 0, "no mutated file loaded: " + outcome.Summary());
        Assert.True(outcome.Rejected.Count >= 4, "fewer than 4 kinds of rejection seen: " + outcome.Summary());
    }

    [Fact]
    public void MutatedRTNeuralJsonOnlyEverThrowsWeightsFormatException()
    {
        var outcome = JsonFuzzHarness.Run(5_000, seed: 20261130, format: JsonFormat.RTNeural);
        output.WriteLine(outcome.Summary());
        Assert.True(outcome.Failures.Count == 0, outcome.Summary());
        Assert.True(outcome.Loaded > 0, "no mutated file loaded: " + outcome.Summary());
        Assert.True(outcome.Rejected.Count >= 4, "fewer than 4 kinds of rejection seen: " + outcome.Summary());
    }
}
