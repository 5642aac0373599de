using System;
using System.Collections.Generic;
using System.Linq;
using LstmGen.Tests.Reference;
using Xunit;

namespace LstmGen.Tests;

/// <summary>The generated API: sizes, PyTorch parameter names and counts, span checks, writes that take effect.</summary>
public sealed class ApiTests
{
    [Theory]
    [MemberData(nameof(Models.Names), MemberType = typeof(Models))]
    public void ParameterCountMatchesPyTorchFormula(string name)
    {
        var c = Models.Get(name);
        // docs/maths.md §1: 4H·(I_k + H) + 8H per layer with bias (4H·(I_k + H) without), plus Linear(H→O): O·H + O.
        long expected = 0;
        for (int l = 0; l < c.L; l++)
            expected += 4L * c.H * ((l == 0 ? c.I : c.H) + c.H) + (c.Bias ? 8L * c.H : 0);
        if (c.O > 0) expected += (long)c.O * c.H + c.O;
        var model = c.Create(0);
        Assert.Equal(expected, model.Parameters.Count);
        Assert.Equal(expected, model.Parameters.Tensors.Sum(t => (long)t.Length));
    }

    [Fact]
    public void ParameterConstantAndNamesFollowPyTorch()
    {
        Assert.Equal(4 * 32 * (8 + 32) + 8 * 32 + 4 * 32 * (32 + 32) + 8 * 32 + 32 + 1, Head_8_32_2_1.ParameterCount);
        var model = new Head_8_32_2_1();
        Assert.Equal(
            new[] { "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "fc.weight", "fc.bias" },
            model.Parameters.Tensors.Select(t => t.Name));
        var wih = model.Parameters["weight_ih_l0"];
        Assert.Equal((128, 8, 2), (wih.Rows, wih.Columns, wih.Rank));
        var bias = model.Parameters["bias_hh_l1"];
        Assert.Equal((128, 1), (bias.Rows, bias.Rank));
        Assert.Equal(new[] { "weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1", "fc.weight", "fc.bias" },
            new NoBias_3_17_2_2_Tanh().Parameters.Tensors.Select(t => t.Name));
        var error = Assert.Throws<KeyNotFoundException>(() => model.Parameters["weight_ih_l2"]);
        Assert.Contains("weight_ih_l0", error.Message);
    }

    [Fact]
    public void InitialisationIsPyTorchsDefaultAndDeterministic()
    {
        var a = new Lstm_64_128_1(seed: 5);
        var b = new Lstm_64_128_1(seed: 5);
        var other = new Lstm_64_128_1(seed: 6);
        Assert.True(a.Parameters.Values.SequenceEqual(b.Parameters.Values));
        Assert.False(a.Parameters.Values.SequenceEqual(other.Parameters.Values));
        float bound = 1f / MathF.Sqrt(128);
        float min = float.MaxValue, max = float.MinValue;
        foreach (float v in a.Parameters.Values) { min = MathF.Min(min, v); max = MathF.Max(max, v); }
        Assert.InRange(min, -bound, -0.99f * bound);
        Assert.InRange(max, 0.99f * bound, bound);
    }

    [Fact]
    public void WrongSpanLengthsNameTheExpectedLength()
    {
        var model = new Lstm_8_32_2();
        var state = model.NewState();
        var ex = Assert.Throws<ArgumentException>(() => model.Step(new float[7], state, new float[32]));
        Assert.Equal("x", ex.ParamName);
        Assert.Contains("expects 8", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => model.Step(new float[8], state, new float[31]));
        Assert.Equal("y", ex.ParamName);
        Assert.Contains("expects 32", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => model.Forward(new float[12], state, new float[32]));
        Assert.Equal("xs", ex.ParamName);
        Assert.Contains("InputSize = 8", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => model.Forward(Array.Empty<float>(), state, new float[32]));
        Assert.Equal("xs", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => model.Forward(new float[16], state, new float[33]));
        Assert.Equal("ys", ex.ParamName);
        Assert.Contains("64", ex.Message);
        Assert.Throws<ArgumentNullException>(() => model.Step(new float[8], null!, new float[32]));
        Assert.Throws<ArgumentException>(() => model.Parameters.CopyFrom(new float[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => state.Hidden(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Parameters["fc.bias" == "" ? "" : "weight_ih_l0"][128, 0]);
    }

    [Fact]
    public void WritesThroughParametersTakeEffectOnTheNextStep()
    {
        var model = new Head_8_32_2_1(seed: 3);
        var x = Models.Inputs(8, 4);
        var y = new float[1];
        var state = model.NewState();
        model.Step(x, state, y); // packs the initial weights

        // Through a tensor indexer, through a tensor copy, and through the whole-array copy: each must be seen.
        void Check(Action write)
        {
            write();
            var reference = new ReferenceLstm(8, 32, 2, true, 1, OutputActivation.None, model.Parameters.Values);
            var fresh = model.NewState();
            model.Step(x, fresh, y);
            Assert.Equal(reference.Step(x)[0], y[0], 5);
        }
        Check(() => model.Parameters["weight_ih_l0"][5, 3] = 2.5f);
        Check(() => model.Parameters["bias_hh_l1"].CopyFrom(Enumerable.Repeat(0.3f, 128).ToArray()));
        Check(() => model.Parameters["fc.weight"][0] = -4f);
        float[] all = model.Parameters.Values.ToArray();
        for (int k = 0; k < all.Length; k++) all[k] *= -1.5f;
        Check(() => model.LoadParameters(all));
        Check(() => model.Parameters.GetWritableValues()[0] = 1.75f);
    }

    [Fact]
    public void StatesAreIndependentAndResettable()
    {
        var model = new Lstm_3_17_1(seed: 2);
        var a = model.NewState();
        var b = model.NewState();
        var ya = new float[17];
        var yb = new float[17];
        var x = Models.Inputs(3, 8);
        for (int k = 0; k < 5; k++) model.Step(x, a, ya);
        model.Step(x, b, yb);
        Assert.NotEqual(ya, yb);
        a.Reset();
        Assert.All(a.Hidden(0).ToArray(), v => Assert.Equal(0f, v));
        model.Step(x, a, ya);
        Assert.Equal(yb, ya);
        b.CopyFrom(a);
        Assert.Equal(a.Cell(0).ToArray(), b.Cell(0).ToArray());
    }
}
