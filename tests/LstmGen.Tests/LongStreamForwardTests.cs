using System;
using System.Linq;
using LstmGen.Tests.Reference;
using Xunit;
using Xunit.Abstractions;

namespace LstmGen.Tests;

[LstmModel(InputSize = 1, HiddenSize = 20, OutputSize = 1)] public partial class Drift_1_20 { }
[LstmModel(InputSize = 1, HiddenSize = 40, OutputSize = 1)] public partial class Drift_1_40 { }

/// <summary>
/// Models built to expose a systematic activation error, the way trained amp models did (issue 16): forget gates held
/// near 1 (pre-activations +4 to +6), so c integrates its input over hundreds of steps and swings between about ±100,
/// passing through zero at every change of the input's sign, for 100,000 steps. A one-signed error in σ moves every f
/// the same way, and c carries it; the outputs then drift away from the double-precision reference further than plain
/// float32 evaluation (exact activations, float32 sums) does. The test holds the kernels to about twice plain float32's
/// error. Runs on every SIMD path in CI (its name matches the numeric filter).
/// </summary>
public sealed class LongStreamForwardTests(ITestOutputHelper output)
{
    private const int Steps = 100_000;

    /// <summary>Random small weights, then the gates set up to integrate: f near 1, i open, g driven hard by x.</summary>
    private static float[] IntegratingParameters(LstmParameters p, int hidden, int seed)
    {
        var random = new LstmRandom((ulong)seed);
        float[] v = new float[p.Count];
        random.FillUniform(v, 0.3f);
        var bih = p["bias_ih_l0"];
        var wih = p["weight_ih_l0"];
        for (int u = 0; u < hidden; u++)
        {
            v[bih.Offset + u] = 1.0f;                                         // input gate mostly open
            v[bih.Offset + hidden + u] = 4f + 2f * u / Math.Max(1, hidden - 1); // forget gate: σ(4 … 6) = 0.982 … 0.9975
            v[wih.Offset + 2 * hidden + u] = (u % 2 == 0 ? 3f : -3f);         // g follows the input's sign
        }
        return v;
    }

    /// <summary>A slow square wave with a small audio-rate ripple: c charges towards ±c_max and crosses zero at each flip.</summary>
    private static float Input(int t) =>
        (float)(0.8 * Math.Sign(Math.Sin(2 * Math.PI * (t + 0.5) / 4800)) + 0.1 * Math.Sin(2 * Math.PI * 110 * t / 48000.0));

    /// <summary>The same one-layer model in float32 with exact activations (MathF) and the sums in PyTorch's order.</summary>
    private sealed class PlainFloat32(float[] p, int hidden)
    {
        private readonly float[] _h = new float[hidden], _c = new float[hidden], _a = new float[4 * hidden];

        public float Step(float x)
        {
            int H = hidden, wih = 0, whh = 4 * H, bih = whh + 4 * H * H, bhh = bih + 4 * H, fcw = bhh + 4 * H, fcb = fcw + H;
            for (int r = 0; r < 4 * H; r++)
            {
                float sum = p[wih + r] * x + p[bih + r] + p[bhh + r];
                for (int j = 0; j < H; j++) sum += p[whh + r * H + j] * _h[j];
                _a[r] = sum;
            }
            static float Sigmoid(float a) => 1f / (1f + MathF.Exp(-a));
            for (int u = 0; u < H; u++)
            {
                _c[u] = Sigmoid(_a[H + u]) * _c[u] + Sigmoid(_a[u]) * MathF.Tanh(_a[2 * H + u]);
                _h[u] = Sigmoid(_a[3 * H + u]) * MathF.Tanh(_c[u]);
            }
            float y = p[fcb];
            for (int u = 0; u < H; u++) y += p[fcw + u] * _h[u];
            return y;
        }
    }

    private void DriftStaysAtFloat32sLevel(LstmParameters parameters, Func<float, float> step, int hidden, int seed)
    {
        float[] values = IntegratingParameters(parameters, hidden, seed);
        values.CopyTo(parameters.GetWritableValues());
        var reference = new ReferenceLstm(1, hidden, 1, true, 1, OutputActivation.None, values);
        var plain = new PlainFloat32(values, hidden);
        double kernels = 0, float32 = 0, cMax = 0;
        for (int t = 0; t < Steps; t++)
        {
            float x = Input(t);
            double exact = reference.Step([x])[0];
            kernels = Math.Max(kernels, Math.Abs(step(x) - exact));
            float32 = Math.Max(float32, Math.Abs(plain.Step(x) - exact));
            cMax = Math.Max(cMax, reference.Cs[0].Max(Math.Abs));
        }
        output.WriteLine($"1 → {hidden}, {Steps:N0} steps, max |c| {cMax:F1}: kernels {kernels:E2}, plain float32 {float32:E2} from the double reference");
        Assert.True(cMax > 100, $"the model was meant to integrate c past 100 (max |c| {cMax:F1})");
        Assert.True(kernels <= 2.5 * float32 + 1e-6, $"the kernels' outputs drift {kernels:E2} from the double reference, plain float32 {float32:E2}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void TwentyUnitsDriftNoMoreThanFloat32(int seed)
    {
        var model = new Drift_1_20();
        var state = model.NewState();
        var y = new float[1];
        DriftStaysAtFloat32sLevel(model.Parameters, x => { model.Step([x], state, y); return y[0]; }, 20, seed);
    }

    [Fact]
    public void FortyUnitsDriftNoMoreThanFloat32()
    {
        var model = new Drift_1_40();
        var state = model.NewState();
        var y = new float[1];
        DriftStaysAtFloat32sLevel(model.Parameters, x => { model.Step([x], state, y); return y[0]; }, 40, 3);
    }
}
