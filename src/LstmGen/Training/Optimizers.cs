using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LstmGen.Training;

/// <summary>
/// Updates parameters from gradients, in place, without allocating after <see cref="Initialize"/>.
/// The formulas follow docs/maths.md §5 and torch.optim.
/// </summary>
public abstract class Optimizer
{
    /// <param name="learningRate">The base learning rate η.</param>
    /// <param name="schedule">How η changes with the step number; constant when null.</param>
    protected Optimizer(float learningRate, LearningRateSchedule? schedule)
    {
        if (!(learningRate > 0) || !float.IsFinite(learningRate))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The learning rate must be a finite number above 0.");
        LearningRate = learningRate;
        Schedule = schedule ?? LearningRateSchedule.Constant;
    }

    /// <summary>The base learning rate η.</summary>
    public float LearningRate { get; }

    /// <summary>The learning-rate schedule.</summary>
    public LearningRateSchedule Schedule { get; }

    /// <summary>Updates done so far (the next update is number <c>StepCount + 1</c>).</summary>
    public int StepCount { get; private set; }

    /// <summary>Number of parameters this optimizer was initialised for; 0 before <see cref="Initialize"/>.</summary>
    public int ParameterCount { get; private set; }

    /// <summary>Allocates the optimizer's state for <paramref name="parameterCount"/> parameters. Called by the trainer.</summary>
    public void Initialize(int parameterCount)
    {
        if (ParameterCount != 0 && ParameterCount != parameterCount)
            throw new InvalidOperationException($"This optimizer is already used for {ParameterCount} parameters; create a new one for a model with {parameterCount}.");
        if (ParameterCount == 0) AllocateState(parameterCount);
        ParameterCount = parameterCount;
    }

    /// <summary>Applies one update: <paramref name="parameters"/> ← update(<paramref name="parameters"/>, <paramref name="gradients"/>).</summary>
    public void Update(Span<float> parameters, ReadOnlySpan<float> gradients)
    {
        if (parameters.Length != ParameterCount || gradients.Length != ParameterCount)
            throw new ArgumentException($"Expected {ParameterCount} parameters and gradients, got {parameters.Length} and {gradients.Length}.");
        StepCount++;
        float lr = Schedule.Rate(LearningRate, StepCount);
        Apply(parameters, gradients, lr, StepCount);
    }

    /// <summary>Allocates per-parameter state.</summary>
    protected abstract void AllocateState(int parameterCount);

    /// <summary>One update with learning rate <paramref name="lr"/>; <paramref name="step"/> counts from 1.</summary>
    protected abstract void Apply(Span<float> parameters, ReadOnlySpan<float> gradients, float lr, int step);

    /// <summary>The optimizer's state as one flat array (for checkpoints); empty for plain SGD.</summary>
    public abstract Span<float> State { get; }

    /// <summary>
    /// Restores a saved state (for checkpoints, see <c>LstmGen.Weights.Checkpoint</c>): the number of updates done and
    /// the values of <see cref="State"/>. Call <see cref="Initialize"/> first (creating the trainer does).
    /// </summary>
    /// <exception cref="InvalidOperationException">The optimizer is not initialised.</exception>
    /// <exception cref="ArgumentException"><paramref name="state"/> does not have <see cref="State"/>'s length, or the count is negative.</exception>
    public void Restore(int stepCount, ReadOnlySpan<float> state)
    {
        if (ParameterCount == 0) throw new InvalidOperationException("Initialize the optimizer (or create the trainer) before restoring its state.");
        if (stepCount < 0) throw new ArgumentOutOfRangeException(nameof(stepCount), stepCount, "The step count cannot be negative.");
        if (state.Length != State.Length)
            throw new ArgumentException($"This optimizer's state has {State.Length} values, got {state.Length}.", nameof(state));
        state.CopyTo(State);
        StepCount = stepCount;
    }
}

/// <summary>
/// SGD with momentum in the classical form of docs/maths.md §5: Δw ← −η·∇w + α·Δw_prev; w ← w + Δw
/// (with Nesterov: w ← w + α·Δw − η·∇w), optional L2 weight decay added to the gradient (torch.optim.SGD's weight_decay).
/// With momentum 0 it is plain SGD. For a constant η this equals torch.optim.SGD with dampening 0.
/// </summary>
public sealed class Sgd(float learningRate, float momentum = 0f, bool nesterov = false, float weightDecay = 0f, LearningRateSchedule? schedule = null)
    : Optimizer(learningRate, schedule)
{
    private float[] _delta = Array.Empty<float>();

    /// <summary>The momentum α.</summary>
    public float Momentum { get; } = momentum >= 0 && momentum < 1 ? momentum : throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "Momentum must be in [0, 1).");

    /// <summary>Whether the Nesterov look-ahead is used.</summary>
    public bool Nesterov { get; } = nesterov;

    /// <summary>L2 weight decay λ: the gradient becomes ∇w + λ·w.</summary>
    public float WeightDecay { get; } = weightDecay >= 0 ? weightDecay : throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be 0 or more.");

    /// <inheritdoc/>
    public override Span<float> State => _delta;

    /// <inheritdoc/>
    protected override void AllocateState(int parameterCount) => _delta = Momentum > 0 ? new float[parameterCount] : Array.Empty<float>();

    /// <inheritdoc/>
    protected override void Apply(Span<float> w, ReadOnlySpan<float> g, float lr, int step)
    {
        float alpha = Momentum, decay = WeightDecay;
        ref float wr = ref MemoryMarshal.GetReference(w);
        ref float gr = ref MemoryMarshal.GetReference(g);
        int k = 0, n = w.Length;
        if (alpha == 0f)
        {
            // w ← w − η·(∇w + λ·w)
            if (Vector256.IsHardwareAccelerated)
                for (; k <= n - 8; k += 8)
                {
                    var wv = Vector256.LoadUnsafe(ref wr, (nuint)k);
                    var grad = Vector256.LoadUnsafe(ref gr, (nuint)k) + decay * wv;
                    (wv - lr * grad).StoreUnsafe(ref wr, (nuint)k);
                }
            for (; k < n; k++) Unsafe.Add(ref wr, k) -= lr * (Unsafe.Add(ref gr, k) + decay * Unsafe.Add(ref wr, k));
            return;
        }
        ref float dr = ref MemoryMarshal.GetArrayDataReference(_delta);
        bool nesterov = Nesterov;
        if (Vector256.IsHardwareAccelerated)
            for (; k <= n - 8; k += 8)
            {
                var wv = Vector256.LoadUnsafe(ref wr, (nuint)k);
                var grad = Vector256.LoadUnsafe(ref gr, (nuint)k) + decay * wv;
                var delta = alpha * Vector256.LoadUnsafe(ref dr, (nuint)k) - lr * grad; // Δw ← −η·∇w + α·Δw_prev
                delta.StoreUnsafe(ref dr, (nuint)k);
                (wv + (nesterov ? alpha * delta - lr * grad : delta)).StoreUnsafe(ref wr, (nuint)k);
            }
        for (; k < n; k++)
        {
            float grad = Unsafe.Add(ref gr, k) + decay * Unsafe.Add(ref wr, k);
            float delta = alpha * Unsafe.Add(ref dr, k) - lr * grad;
            Unsafe.Add(ref dr, k) = delta;
            Unsafe.Add(ref wr, k) += nesterov ? alpha * delta - lr * grad : delta;
        }
    }
}

/// <summary>
/// Adam (Kingma &amp; Ba) with bias correction, as torch.optim.Adam: m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
/// w ← w − η·m̂/(√v̂ + ε). <c>weightDecay</c> is L2 (added to the gradient), as in torch.optim.Adam.
/// </summary>
public class Adam : Optimizer
{
    private float[] _state = Array.Empty<float>();
    private int _count;

    /// <summary>Creates Adam.</summary>
    public Adam(float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0f, LearningRateSchedule? schedule = null)
        : base(learningRate, schedule)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1).");
        if (!(epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be above 0.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be 0 or more.");
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
    }

    /// <summary>β1.</summary>
    public float Beta1 { get; }
    /// <summary>β2.</summary>
    public float Beta2 { get; }
    /// <summary>ε.</summary>
    public float Epsilon { get; }
    /// <summary>Weight decay λ (L2 for Adam, decoupled for AdamW).</summary>
    public float WeightDecay { get; }

    /// <summary>Whether weight decay is decoupled (AdamW).</summary>
    protected virtual bool Decoupled => false;

    /// <inheritdoc/>
    public override Span<float> State => _state;

    /// <inheritdoc/>
    protected override void AllocateState(int parameterCount)
    {
        _count = parameterCount;
        _state = new float[2 * parameterCount]; // m then v
    }

    /// <inheritdoc/>
    protected override void Apply(Span<float> w, ReadOnlySpan<float> g, float lr, int step)
    {
        Span<float> m = _state.AsSpan(0, _count), v = _state.AsSpan(_count, _count);
        float b1 = Beta1, b2 = Beta2;
        float correction1 = 1f - MathF.Pow(b1, step);
        float correction2 = 1f - MathF.Pow(b2, step);
        float stepSize = lr / correction1;
        float sqrtCorrection2 = MathF.Sqrt(correction2);
        float decay = WeightDecay;
        bool decoupled = Decoupled;
        int k = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float wr = ref MemoryMarshal.GetReference(w);
            ref float gr = ref MemoryMarshal.GetReference(g);
            ref float mr = ref MemoryMarshal.GetReference(m);
            ref float vr = ref MemoryMarshal.GetReference(v);
            float keep = 1f - lr * decay;
            for (; k <= w.Length - 8; k += 8)
            {
                var wv = Vector256.LoadUnsafe(ref wr, (nuint)k);
                var grad = Vector256.LoadUnsafe(ref gr, (nuint)k);
                if (decoupled) wv *= keep;
                else grad += decay * wv;
                var mk = b1 * Vector256.LoadUnsafe(ref mr, (nuint)k) + (1f - b1) * grad;
                var vk = b2 * Vector256.LoadUnsafe(ref vr, (nuint)k) + (1f - b2) * grad * grad;
                mk.StoreUnsafe(ref mr, (nuint)k);
                vk.StoreUnsafe(ref vr, (nuint)k);
                (wv - stepSize * mk / (Vector256.Sqrt(vk) / sqrtCorrection2 + Vector256.Create(Epsilon))).StoreUnsafe(ref wr, (nuint)k);
            }
        }
        for (; k < w.Length; k++)
        {
            float grad = g[k];
            if (decoupled) w[k] *= 1f - lr * decay;   // AdamW: w ← w − η·λ·w
            else grad += decay * w[k];                // Adam: L2 in the gradient
            float mk = b1 * m[k] + (1f - b1) * grad;
            float vk = b2 * v[k] + (1f - b2) * grad * grad;
            m[k] = mk; v[k] = vk;
            // w ← w − η·m̂/(√v̂ + ε), written as torch does: (η/c1)·m / (√v/√c2 + ε)
            w[k] -= stepSize * mk / (MathF.Sqrt(vk) / sqrtCorrection2 + Epsilon);
        }
    }
}

/// <summary>AdamW (Loshchilov &amp; Hutter): Adam with decoupled weight decay w ← w − η·λ·w, as torch.optim.AdamW (default λ = 0.01).</summary>
public sealed class AdamW(float learningRate = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f, float weightDecay = 0.01f, LearningRateSchedule? schedule = null)
    : Adam(learningRate, beta1, beta2, epsilon, weightDecay, schedule)
{
    /// <inheritdoc/>
    protected override bool Decoupled => true;
}

/// <summary>How the learning rate changes with the update number (counted from 1).</summary>
public abstract class LearningRateSchedule
{
    /// <summary>The same rate at every step.</summary>
    public static LearningRateSchedule Constant { get; } = new ConstantSchedule();

    /// <summary>η·γ^floor((step−1)/stepSize), as torch.optim.lr_scheduler.StepLR.</summary>
    public static LearningRateSchedule StepDecay(int stepSize, float gamma) => new StepSchedule(stepSize, gamma);

    /// <summary>Cosine annealing from η to <paramref name="minimum"/> over <paramref name="totalSteps"/> updates, then constant (CosineAnnealingLR).</summary>
    public static LearningRateSchedule Cosine(int totalSteps, float minimum = 0f) => new CosineSchedule(totalSteps, minimum);

    /// <summary>The learning rate for update number <paramref name="step"/> (1 for the first update).</summary>
    public abstract float Rate(float baseRate, int step);

    private sealed class ConstantSchedule : LearningRateSchedule
    {
        public override float Rate(float baseRate, int step) => baseRate;
    }

    private sealed class StepSchedule : LearningRateSchedule
    {
        private readonly int _stepSize;
        private readonly float _gamma;

        public StepSchedule(int stepSize, float gamma)
        {
            if (stepSize <= 0) throw new ArgumentOutOfRangeException(nameof(stepSize), stepSize, "stepSize must be at least 1.");
            _stepSize = stepSize; _gamma = gamma;
        }

        public override float Rate(float baseRate, int step) => baseRate * MathF.Pow(_gamma, (step - 1) / _stepSize);
    }

    private sealed class CosineSchedule : LearningRateSchedule
    {
        private readonly int _total;
        private readonly float _minimum;

        public CosineSchedule(int totalSteps, float minimum)
        {
            if (totalSteps <= 0) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "totalSteps must be at least 1.");
            _total = totalSteps; _minimum = minimum;
        }

        public override float Rate(float baseRate, int step)
        {
            int t = Math.Min(step - 1, _total);
            return _minimum + (baseRate - _minimum) * 0.5f * (1f + MathF.Cos(MathF.PI * t / _total));
        }
    }
}
